//! Starting and stopping the hub: bootstrap material, store, API server, QUIC server, MQTT
//! broker (embedded) or client (external), scheduler, controllers and status ingest.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use anyhow::Context as _;
use serde_json::json;

use crate::api::{self, auth::Authenticator, ApiState};
use crate::bootstrap;
use crate::broker::{self, MqttUsers};
use crate::controllers;
use crate::node_session::{HubLink, QuicServer};
use crate::resources::{self, NAMESPACES};
use crate::scheduler::Scheduler;
use crate::status_ingest::StatusIngest;
use crate::store::{Lane, Store, StoreError};

/// The hub's settings, merged from defaults and flags.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub data_dir: PathBuf,
    pub api_addr: SocketAddr,
    pub quic_addr: SocketAddr,
    /// Where the embedded broker listens (ignored with `mqtt_url`).
    pub mqtt_addr: SocketAddr,
    /// Where the embedded broker also listens over TLS (the hub's server certificate); agents
    /// then get `mqtts://` at join. `None`: no TLS listener.
    pub mqtts_addr: Option<SocketAddr>,
    /// `mqtt://HOST:PORT` (or `mqtts://`) of an external broker; `None` runs the embedded one.
    pub mqtt_url: Option<String>,
    /// CA (PEM) the external broker's certificate must chain to, for `mqtts://`.
    pub mqtt_ca: Option<PathBuf>,
    /// Broker URL handed to agents at join when it differs from `mqtt_url` (for example a
    /// plain listener for agents next to a TLS one for the hub).
    pub mqtt_agent_url: Option<String>,
    /// Republish per-Deployment / per-DaemonSet rollout summaries under `shoal/v1/cluster/`.
    pub mqtt_summaries: bool,
    /// When nodes turn Unknown and when (if ever) their pods are evicted.
    pub node_lifecycle: crate::controllers::node_lifecycle::LifecycleConfig,
    /// Service CIDR (ClusterIPs) and NodePort range.
    pub service_network: crate::service_alloc::ServiceNetwork,
}

/// A running hub.
pub struct Hub {
    pub api: actix_web::dev::ServerHandle,
    pub quic: Addr<QuicServer>,
    pub store: Store,
    pub join_token_file: PathBuf,
    pub kubeconfig: PathBuf,
    pub api_addr: SocketAddr,
    pub quic_addr: SocketAddr,
    /// The scheduler's and the controllers' threads, stopped with the hub.
    workers: Vec<Arbiter>,
}

fn loopback_if_unspecified(a: SocketAddr) -> SocketAddr {
    if a.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port())
    } else {
        a
    }
}

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

/// Parses `mqtt://host[:port]` (port 1883) or `mqtts://host[:port]` (port 8883).
pub fn parse_mqtt_url(url: &str) -> anyhow::Result<MqttUrl> {
    let (rest, tls, default_port) = if let Some(r) = url.strip_prefix("mqtt://") {
        (r, false, "1883")
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (r, true, "8883")
    } else {
        anyhow::bail!("MQTT URL {url:?} must start with mqtt:// or mqtts://");
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (h, p),
        _ => (rest, default_port),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("MQTT URL {url:?} has an invalid port"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    anyhow::ensure!(!host.is_empty(), "MQTT URL {url:?} has no host");
    Ok(MqttUrl { host, port, tls })
}

/// Whether agents handed `url` speak TLS to the broker.
fn agent_url_is_tls(url: &str) -> bool {
    url.starts_with("mqtts://") || url.starts_with("ssl://")
}

/// Starts every part of the hub on the current actix System.
pub async fn start(cfg: HubConfig) -> anyhow::Result<Hub> {
    let dir = cfg.data_dir.clone();
    let (api_addr, quic_addr) = (cfg.api_addr, cfg.quic_addr);
    let material =
        tokio::task::spawn_blocking(move || bootstrap::prepare(&dir, api_addr, quic_addr))
            .await?
            .with_context(|| format!("preparing the data directory {}", cfg.data_dir.display()))?;
    let store_dir = cfg.data_dir.join("store");
    let store = tokio::task::spawn_blocking(move || Store::open(&store_dir, resources::ALL))
        .await?
        .context("opening the store")?;
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if store.get(&NAMESPACES, "", ns).is_none() {
            let mut v = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            crate::api::admission::prepare_create(&NAMESPACES, &mut v)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match store.create(&NAMESPACES, "", v).await {
                Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e).context("creating the default namespaces"),
            }
        }
    }

    // The hub's own components write through the bulk lane, API requests through the API
    // lane (see `store::Lane`).
    let bulk = store.with_lane(Lane::Bulk);
    let users = MqttUsers::load(material.mqtt_users_file.clone())?.with_store(store.clone());
    let mqtt_ca = match &cfg.mqtt_ca {
        Some(path) => Some(crate::mqtt_tls::load_ca(path)?),
        None => None,
    };
    let (broker_conn, agent_mqtt_url, users) = match &cfg.mqtt_url {
        Some(url) => {
            let u = parse_mqtt_url(url)?;
            let tls = match (&mqtt_ca, u.tls) {
                (Some((_, cfg)), true) => Some(cfg.clone()),
                (None, true) => anyhow::bail!(
                    "--mqtt-url {url} uses TLS: give the broker's CA with --mqtt-ca FILE"
                ),
                (_, false) => None,
            };
            // The external broker learns its users from files the hub keeps current.
            let files = cfg.data_dir.join("mosquitto");
            let users = users.on_change(move |u| {
                if let Err(e) = crate::mosquitto_files::write(&files, u) {
                    tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "cannot write the Mosquitto credential files");
                }
            });
            let files = cfg.data_dir.join("mosquitto");
            crate::mosquitto_files::write(&files, &users)
                .with_context(|| format!("writing Mosquitto credentials to {}", files.display()))?;
            (
                (u.host, u.port, tls),
                cfg.mqtt_agent_url.clone().unwrap_or_else(|| url.clone()),
                users,
            )
        }
        None => {
            let tls = match cfg.mqtts_addr {
                Some(a) => Some((
                    a,
                    Arc::new(
                        shoal_transport::tls::https_server_config(
                            &material.ca.cert_der,
                            &material.server_cert,
                        )
                        .context("building the MQTT TLS listener's config")?,
                    ),
                )),
                None => None,
            };
            let (bound, bound_tls) = broker::start(cfg.mqtt_addr, tls, users.clone())?;
            let host_of = |a: SocketAddr| {
                if a.ip().is_unspecified() {
                    String::new()
                } else {
                    a.ip().to_string()
                }
            };
            let local = loopback_if_unspecified(bound);
            // Agents use the TLS listener when there is one.
            let default_agent_url = match bound_tls {
                Some(t) => format!("mqtts://{}:{}", host_of(t), t.port()),
                None => format!("mqtt://{}:{}", host_of(bound), bound.port()),
            };
            (
                (local.ip().to_string(), local.port(), None),
                cfg.mqtt_agent_url.clone().unwrap_or(default_agent_url),
                users,
            )
        }
    };
    // Design: agents told to use TLS get the broker's CA with their credentials at join, so
    // they trust exactly the broker the hub trusts, and keep it for offline restarts.
    // With the embedded TLS listener the broker's CA is the hub CA (agents then check the
    // certificate for the name `shoal-hub`, as on the QUIC link).
    let embedded_tls = cfg.mqtt_url.is_none() && cfg.mqtts_addr.is_some();
    let agent_mqtt_ca = if agent_url_is_tls(&agent_mqtt_url) {
        match (&mqtt_ca, embedded_tls) {
            (Some((pem, _)), _) => pem.clone(),
            (None, true) => material.ca.cert_pem.clone(),
            (None, false) => anyhow::bail!(
                "agents are to use {agent_mqtt_url}: give the broker's CA with --mqtt-ca FILE so they can verify it"
            ),
        }
    } else {
        String::new()
    };
    let (hub_user, hub_pass) = users
        .for_role("hub")
        .context("the MQTT user file has no hub credentials")?;
    let heartbeats = crate::liveness::Heartbeats::default();
    let broker = crate::status_ingest::BrokerConnection {
        host: broker_conn.0,
        port: broker_conn.1,
        username: hub_user,
        password: hub_pass,
        tls: broker_conn.2,
    };
    if cfg.mqtt_summaries {
        crate::rollout_summary::RolloutSummary {
            store: bulk.clone(),
            broker: broker.clone(),
        }
        .start();
    }
    let metrics = crate::metrics::Metrics::default();
    // Design: status ingest, the scheduler and the controllers each get a thread (arbiter)
    // of their own, apart from the one that runs node sessions, so a burst of node traffic
    // does not starve placement or reconciles, nor they the nodes; and the ingest keeps up
    // with the broker (a subscriber that falls a whole router log behind loses messages)
    // however busy the QUIC sessions are.
    let ingest = Arbiter::new();
    {
        let (store, heartbeats, metrics) = (bulk.clone(), heartbeats.clone(), metrics.clone());
        StatusIngest::start_in_arbiter(&ingest.handle(), move |_| StatusIngest {
            store,
            broker,
            heartbeats,
            metrics,
        });
    }
    let scheduler = Scheduler::start_own_thread(bulk.clone());
    let controllers = controllers::start_all(&bulk, heartbeats, cfg.node_lifecycle.clone());
    crate::event_gc::EventGc {
        store: bulk.clone(),
        ttl: crate::event_gc::EVENT_TTL,
    }
    .start();

    let endpoint = shoal_transport::quic::server_endpoint(
        cfg.quic_addr,
        &material.ca.cert_der,
        &material.server_cert,
        &material.quic_reset_key,
    )
    .with_context(|| format!("listening for agents (QUIC) on {}", cfg.quic_addr))?;
    let quic_addr = endpoint.local_addr().unwrap_or(cfg.quic_addr);
    let conns = crate::node_conns::NodeConns::default();
    let link = Arc::new(HubLink {
        store: bulk.clone(),
        ca: material.ca.clone(),
        join_token: material.join_token.clone(),
        mqtt_users: users,
        mqtt_url: agent_mqtt_url,
        mqtt_ca_pem: agent_mqtt_ca,
        kubelet_version: format!(
            "v{}.{}.0-shoal.{}",
            api::discovery::KUBE_MAJOR,
            api::discovery::KUBE_MINOR,
            env!("CARGO_PKG_VERSION")
        ),
        conns: conns.clone(),
        router: crate::node_router::NodeRouter::start(bulk.clone()),
    });
    let quic = QuicServer { endpoint, link }.start();

    let auth = Arc::new(Authenticator::load(&material.tokens_file)?.with_store(store.clone()));
    let listener = TcpListener::bind(cfg.api_addr)
        .with_context(|| format!("listening for the API on {}", cfg.api_addr))?;
    let api_addr = listener.local_addr()?;
    let tls =
        shoal_transport::tls::https_server_config(&material.ca.cert_der, &material.server_cert)?;
    let state = ApiState {
        store: store.clone(),
        auth,
        server_address: loopback_if_unspecified(api_addr).to_string(),
        metrics,
        nodes: conns,
        services: Arc::new(crate::service_alloc::ServiceAllocator::new(
            cfg.service_network.clone(),
        )),
    };
    let server = api::serve(listener, tls, state)?;
    let api = server.handle();
    actix_rt::spawn(server);
    Ok(Hub {
        api,
        quic,
        store,
        join_token_file: cfg.data_dir.join("join-token"),
        kubeconfig: material.kubeconfig,
        api_addr,
        quic_addr,
        workers: vec![ingest, scheduler, controllers],
    })
}

impl Hub {
    pub async fn stop(self) {
        self.api.stop(true).await;
        self.quic.do_send(StopActor);
        for w in &self.workers {
            w.stop();
        }
    }
}

/// Stops an actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopActor;

impl Handler<StopActor> for QuicServer {
    type Result = ();
    fn handle(&mut self, _: StopActor, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_urls() {
        let url = |h: &str, port, tls| MqttUrl {
            host: h.into(),
            port,
            tls,
        };
        assert_eq!(
            parse_mqtt_url("mqtt://127.0.0.1:1884").expect("ok"),
            url("127.0.0.1", 1884, false)
        );
        assert_eq!(
            parse_mqtt_url("mqtt://broker").expect("ok"),
            url("broker", 1883, false)
        );
        assert_eq!(
            parse_mqtt_url("mqtts://broker/").expect("ok"),
            url("broker", 8883, true)
        );
        assert_eq!(
            parse_mqtt_url("mqtts://[::1]:8884").expect("ok"),
            url("::1", 8884, true)
        );
        assert!(parse_mqtt_url("http://x").is_err());
        assert!(parse_mqtt_url("mqtt://x:notaport").is_err());
        assert!(parse_mqtt_url("mqtt://:1883").is_err());
        assert!(parse_mqtt_url("mqtt://x:0").is_err());
    }
}
