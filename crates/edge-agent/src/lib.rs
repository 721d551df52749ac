//! The shoal edge agent: runs one device's pods and keeps the hub informed.
//!
//! ```text
//!   hub (QUIC, mTLS)                                        MQTT broker
//!        |  Snapshot / Delta            ^ Ack                    ^ mqtt:// or mqtts://
//!        v                              |                        | node + pod status, events, LWT
//!   HubLink --persist--> LocalStore     |                  StatusReporter (EventRecorder)
//!        |  DesiredPods                                          ^
//!        v                                                       | PodStatuses (changes, events)
//!   PodManager --reconcile (pods::)--> ContainerRuntime (Podman | fake | ...)
//!                                        wrapped by ServiceEnvRuntime (Service env, pod DNS)
//!   HubLink --persist Services--> ServiceProxy (ClusterIP/NodePort), ClusterDns
//! ```
//!
//! - [`join`]: first start only; trades the join token for node credentials ([`credentials`]).
//! - [`hub_link`]: the sync session with the hub; persists, acks, forwards desired pods.
//! - [`local_store`]: fjall store of desired pods and the acked revision (offline first).
//! - [`pod_manager`]: reconciles desired pods against the runtime through pod workers.
//! - [`status_reporter`]: MQTT status publishing with a bounded [`report_outbox`], and pod
//!   events through the [`event_recorder`] (aggregation, rate limit).
//! - [`streams`]: serves the logs and exec streams the hub opens on the QUIC connection.
//! - [`runtime`] and [`pods`]: the container runtime trait and the pure pod lifecycle core.
//! - [`desired`], [`backoff`]: pure cores of the sync protocol and of every retry.
//! - [`services`], [`service_proxy`] ([`proxy_balancer`]), [`dns`] ([`dns_answer`]),
//!   [`service_env`]: Services from the hub, the kube-proxy-like proxy, cluster DNS and the
//!   Service environment variables.
//!
//! Start-up ([`run`]): open the local store and load the desired pods; connect the runtime;
//! make sure the node has credentials (joining if needed); start the StatusReporter (if the
//! hub gave an MQTT URL), the PodManager with the stored pods (so pods run before, and
//! without, the hub) and the HubLink. Everything stops when the shutdown token fires; the
//! pods themselves keep running.
//!
//! Many agents in one process ([`run_embedded`] with an [`Embedding`], what `shoal-sim` does):
//! they share one QUIC endpoint (one UDP socket and driver for every connection) and keep
//! their desired pods in [`LocalStore::in_memory`] instead of one fjall database each; each is
//! still a separate node to the hub (own join, certificate, QUIC connection and MQTT session).
//!
//! Data directory layout:
//!
//! ```text
//! DIR/pki/ca.crt, DIR/pki/node.crt, DIR/pki/node.key (0600)   node credentials (join)
//! DIR/mqtt.json                                               MQTT URL, credentials, broker CA (join)
//! DIR/status-outbox.json                                      status not yet sent (broker down)
//! DIR/state/                                                  fjall: desired pods, acked revision, Services
//! DIR/pods/<uid>/volumes/                                     emptyDir volumes (Podman runtime)
//! ```

pub mod backoff;
pub mod config;
pub mod credentials;
pub mod desired;
pub mod dns;
pub mod dns_answer;
pub mod event_recorder;
pub mod fd_limit;
pub mod hub_addr;
pub mod hub_link;
pub mod join;
pub mod local_store;
pub mod node_info;
pub mod pod_manager;
pub mod pods;
pub mod prober;
pub mod proxy_balancer;
pub mod report_outbox;
pub mod runtime;
pub mod service_env;
pub mod service_proxy;
pub mod services;
pub mod status_reporter;
pub mod streams;
pub mod usage;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use shoal_actors::DesiredPods;
use shoal_transport::quic::{self, QuicError};
use shoal_transport::status::now_ms;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use config::{AgentConfig, Args, ConfigError, RuntimeKind};
pub use tokio_util::sync::CancellationToken as ShutdownToken;

use crate::backoff::{Backoff, LINK};
use crate::dns::ClusterDns;
use crate::hub_addr::{hub_host, resolve_hub};
use crate::hub_link::{HubLink, LinkSetup, ServicesLink};
use crate::join::JoinError;
pub use crate::local_store::LocalStore;
use crate::local_store::StoreError;
pub use crate::node_info::HostFacts;
use crate::pod_manager::PodManager;
use crate::runtime::{ContainerRuntime, MultiRuntime, PodmanRuntime, ProcessRuntime, RuntimeError};
use crate::service_proxy::ServiceProxy;
use crate::services::{DesiredServices, SharedServices};
use crate::status_reporter::{parse_broker_url, tls_config, NodeBase, StatusReporter};

/// How long the agent keeps trying to reach its container runtime at start before giving up.
pub const RUNTIME_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for each actor to stop and for the QUIC endpoint to drain.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("creating the data directory {path} failed")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the container runtime could not be reached within {}s", RUNTIME_CONNECT_TIMEOUT.as_secs())]
    Runtime {
        #[source]
        source: RuntimeError,
    },
    #[error("joining the hub failed")]
    Join {
        #[source]
        source: JoinError,
    },
    #[error("setting up the QUIC client failed")]
    Quic {
        #[source]
        source: QuicError,
    },
    #[error("a blocking task did not complete")]
    Blocking {
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Runs the agent until `shutdown` fires, with the runtime `config.runtime` names.
///
/// Must be called inside an actix `System` (the binary's `System::new().block_on(..)`, or the
/// hub's own System in `--with-agent` mode). Returns `Ok(())` after a clean shutdown and an
/// error ([`AgentError`] inside) when the agent cannot run: invalid config, a data directory in
/// use, an unreachable runtime, or a join the hub refused or that pinned another CA.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate().map_err(AgentError::from)?;
    let process: Arc<dyn ContainerRuntime> = Arc::new(ProcessRuntime::new(
        &config.data_dir,
        config.node_ip.to_string(),
    ));
    // Design: every node can run `runtimeClassName: process` pods; Podman nodes run the rest
    // in containers, process-only nodes run everything as processes.
    let runtime: Arc<dyn ContainerRuntime> = match config.runtime {
        RuntimeKind::Podman => match connect_podman(&config, &shutdown).await? {
            Some(podman) => Arc::new(MultiRuntime::new(podman, vec![process])),
            None => return Ok(()),
        },
        RuntimeKind::Process => process,
    };
    run_with_runtime(config, runtime, shutdown).await
}

/// [`run`] with a runtime the caller built (tests use `runtime::FakeRuntime`; the simulator
/// its simulated runtime). `config.runtime` and `config.podman_socket` are ignored.
pub async fn run_with_runtime(
    config: AgentConfig,
    runtime: Arc<dyn ContainerRuntime>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Ok(run_agent(config, runtime, Embedding::default(), shutdown).await?)
}

/// What an agent shares with, or is given by, the process it is embedded in. The default is
/// a stand-alone agent: own endpoint, fjall store, this host's facts, saved outbox.
#[derive(Clone, Default)]
pub struct Embedding {
    /// A QUIC client endpoint to dial from; the agent leaves it open when it stops.
    pub endpoint: Option<quinn::Endpoint>,
    /// The local store to use instead of opening `DIR/state` (e.g. [`LocalStore::in_memory`],
    /// kept by the caller across restarts of the agent).
    pub store: Option<LocalStore>,
    /// Host facts to report instead of reading this host's.
    pub facts: Option<HostFacts>,
    /// Keep unsent status in memory only (no `DIR/status-outbox.json`).
    pub no_outbox_file: bool,
}

/// [`run_with_runtime`] with the shared pieces in `embedding`; many agents can run this way in
/// one actix System (the simulator's hollow nodes).
pub async fn run_embedded(
    config: AgentConfig,
    runtime: Arc<dyn ContainerRuntime>,
    embedding: Embedding,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    run_agent(config, runtime, embedding, shutdown).await
}

async fn connect_podman(
    config: &AgentConfig,
    shutdown: &CancellationToken,
) -> Result<Option<Arc<dyn ContainerRuntime>>, AgentError> {
    let deadline = Instant::now() + RUNTIME_CONNECT_TIMEOUT;
    let mut backoff = Backoff::new(LINK);
    loop {
        let attempt =
            PodmanRuntime::connect(&config.podman_socket, &config.node_name, &config.data_dir);
        let result = tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            r = attempt => r,
        };
        match result {
            Ok(rt) => return Ok(Some(Arc::new(rt))),
            Err(source) if Instant::now() >= deadline => {
                return Err(AgentError::Runtime { source })
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(error = %error_chain(&e), retry_in = ?delay, "container runtime not reachable yet");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(None),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn run_agent(
    config: AgentConfig,
    runtime: Arc<dyn ContainerRuntime>,
    embedding: Embedding,
    shutdown: CancellationToken,
) -> Result<(), AgentError> {
    config.validate()?;
    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .map_err(|source| AgentError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    let store = match embedding.store {
        Some(store) => store,
        None => LocalStore::open_async(config.state_dir()).await?,
    };
    let desired = store.load_async().await?;
    let services = store.load_services_async().await?;
    let shared_services: SharedServices =
        std::sync::Arc::new(std::sync::RwLock::new(services.plans()));
    let cluster_dns = config
        .cluster_dns
        .map(|server| service_env::ClusterDnsConfig {
            server,
            domain: config.cluster_domain.clone(),
        });
    let runtime: Arc<dyn ContainerRuntime> = Arc::new(service_env::ServiceEnvRuntime::new(
        runtime,
        shared_services.clone(),
        cluster_dns.clone(),
    ));
    info!(
        node = %config.node_name,
        hub = %config.hub,
        data_dir = %config.data_dir.display(),
        stored_pods = desired.len(),
        revision = desired.revision(),
        "agent starting"
    );

    let runtime_version = match runtime.version().await {
        Ok(v) => v,
        Err(e) => {
            warn!(error = %error_chain(&e), "cannot read the runtime version");
            "unknown".to_string()
        }
    };
    let facts = match embedding.facts {
        Some(facts) => facts,
        None => tokio::task::spawn_blocking(HostFacts::read)
            .await
            .map_err(|source| AgentError::Blocking { source })?,
    };
    let mut node = node_info::node_info(&config, &facts, runtime.name(), &runtime_version);
    node.runtimes = runtime.runtime_classes();

    // Design: the endpoint's address family follows the hub's address at start; IPv4 when the
    // hub cannot be resolved yet (most edge networks).
    let shared_endpoint = embedding.endpoint.is_some();
    let endpoint = match embedding.endpoint {
        Some(endpoint) => endpoint,
        None => {
            let family = resolve_hub(&config.hub)
                .await
                .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
            quic::client_endpoint(family).map_err(|source| AgentError::Quic { source })?
        }
    };
    let outbox_file =
        (!embedding.no_outbox_file).then(|| config.data_dir.join(status_reporter::OUTBOX_FILE));

    // Everything started below stops when `actors` is cancelled: on shutdown, or when this
    // function returns early with an error.
    let actors = shutdown.child_token();
    let _stop_actors = actors.clone().drop_guard();

    let result = async {
        let Some(creds) = join::ensure_joined(&config, &endpoint, &actors)
            .await
            .map_err(|source| AgentError::Join { source })?
        else {
            return Ok(());
        };

        let mqtt = mqtt_settings(&config, &creds.mqtt).await;
        let broker = parse_broker_url(&mqtt.url, &hub_host(&config.hub)).and_then(|b| match b {
            Some(b) => tls_config(&b, &mqtt.ca_pem, &creds.ca_cert_pem).map(|tls| Some((b, tls))),
            None => Ok(None),
        });
        let reporter = match broker {
            Ok(Some((broker, tls))) => Some(StatusReporter::start_with(
                NodeBase::from_info(&node, now_ms()),
                &broker,
                &mqtt,
                tls,
                actors.clone(),
                outbox_file,
            )),
            Ok(None) => {
                info!("the hub gave no MQTT URL; status reporting is off");
                None
            }
            Err(e) => {
                error!(error = %error_chain(&e), "status reporting is off");
                None
            }
        };

        if let Some(reporter) = &reporter {
            usage::UsageSampler::new(
                node.node_name.clone(),
                runtime.clone(),
                reporter.clone().recipient(),
                actors.clone(),
            )
            .start();
        }
        let pod_manager = PodManager::new(
            runtime.clone(),
            config.node_ip.to_string(),
            DesiredPods {
                revision: desired.revision(),
                pods: desired.plans(),
            },
            reporter.as_ref().map(|r| r.clone().recipient()),
            actors.clone(),
        )
        .start();

        // The proxy starts from the stored Services, so it serves before (and without) the hub.
        let service_proxy = ServiceProxy::new(
            config.node_name.clone(),
            config.node_ip,
            config.cluster_ip_proxy,
            actors.clone(),
        )
        .start();
        let stored_services = services.plans();
        service_proxy.do_send(DesiredServices {
            services: stored_services.clone(),
        });
        let mut recipients = vec![service_proxy.clone().recipient()];
        let dns_server = cluster_dns.map(|c| {
            let dns =
                ClusterDns::new(SocketAddr::new(c.server, 53), c.domain, actors.clone()).start();
            dns.do_send(DesiredServices {
                services: stored_services,
            });
            recipients.push(dns.clone().recipient());
            dns
        });
        let services_link = ServicesLink {
            set: std::sync::Arc::new(std::sync::Mutex::new(services)),
            shared: shared_services,
            recipients,
        };

        let client_config = quic::mtls_client_config(
            &creds.ca_cert_pem,
            &creds.node_cert_pem,
            &creds.node_key_pem,
        )
        .map_err(|source| AgentError::Quic { source })?;
        let hub_link = HubLink::new(
            LinkSetup {
                hub: config.hub.clone(),
                endpoint: endpoint.clone(),
                client_config,
                node,
                store: store.clone(),
                pod_manager: pod_manager.clone().recipient(),
                runtime: runtime.clone(),
                services: services_link,
            },
            desired,
            actors.clone(),
        )
        .start();

        actors.cancelled().await;
        info!("agent stopping");
        wait_stopped(&hub_link, "hub link").await;
        wait_stopped(&pod_manager, "pod manager").await;
        wait_stopped(&service_proxy, "service proxy").await;
        if let Some(dns) = &dns_server {
            wait_stopped(dns, "cluster DNS").await;
        }
        if let Some(reporter) = &reporter {
            wait_stopped(reporter, "status reporter").await;
        }
        Ok(())
    }
    .await;

    actors.cancel();
    // Design: a shared endpoint belongs to the embedding process; this agent's connection
    // closes when the hub link drops its last handle.
    if !shared_endpoint {
        endpoint.close(0u32.into(), b"agent stopping");
        if tokio::time::timeout(STOP_TIMEOUT, endpoint.wait_idle())
            .await
            .is_err()
        {
            warn!("QUIC connections did not close in time");
        }
    }
    // Design: the last handle closes the database, which may wait for fjall's background
    // work; that happens on the blocking pool, and before `run` returns, so the data directory
    // is free again for a restarted agent.
    let _ = tokio::task::spawn_blocking(move || drop(store)).await;
    result
}

/// Waits (bounded) until an actor has stopped and dropped its state.
/// The MQTT settings the reporter uses: what the join handed out, with `--mqtt-url` and
/// `--mqtt-ca` (read here, at every start) taking precedence. An unreadable CA file leaves
/// the join's CA in place and is logged; a TLS URL without any CA then turns reporting off.
async fn mqtt_settings(
    config: &AgentConfig,
    joined: &shoal_transport::wire::MqttCredentials,
) -> shoal_transport::wire::MqttCredentials {
    let mut mqtt = joined.clone();
    if let Some(url) = &config.mqtt_url {
        mqtt.url = url.clone();
    }
    if let Some(path) = &config.mqtt_ca {
        match tokio::fs::read_to_string(path).await {
            Ok(pem) => mqtt.ca_pem = pem,
            Err(e) => {
                error!(path = %path.display(), error = %e, "cannot read --mqtt-ca; using the CA from the join, if any")
            }
        }
    }
    mqtt
}

async fn wait_stopped<A: Actor>(addr: &Addr<A>, what: &str) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    while addr.connected() {
        if Instant::now() >= deadline {
            warn!("{what} did not stop within {STOP_TIMEOUT:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An error and its sources on one line, `outer: inner: innermost`, for logs.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        // #[error(transparent)] wrappers repeat their source's text; print it once.
        if !text.ends_with(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
