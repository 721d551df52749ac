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
use crate::store::{Store, StoreError};

/// The hub's settings, merged from defaults and flags.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub data_dir: PathBuf,
    pub api_addr: SocketAddr,
    pub quic_addr: SocketAddr,
    /// Where the embedded broker listens (ignored with `mqtt_url`).
    pub mqtt_addr: SocketAddr,
    /// `mqtt://HOST:PORT` of an external broker; `None` runs the embedded one.
    pub mqtt_url: Option<String>,
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
}

fn loopback_if_unspecified(a: SocketAddr) -> SocketAddr {
    if a.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), a.port())
    } else {
        a
    }
}

/// Parses `mqtt://host:port`.
pub fn parse_mqtt_url(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .with_context(|| format!("MQTT URL {url:?} must start with mqtt://"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .map(|(h, p)| (h, p))
        .unwrap_or((rest, "1883"));
    let port: u16 = port
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("MQTT URL {url:?} has an invalid port"))?;
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
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

    let users = MqttUsers::load(material.mqtt_users_file.clone())?;
    let (mqtt_host, mqtt_port, agent_mqtt_url) = match &cfg.mqtt_url {
        Some(url) => {
            let (h, p) = parse_mqtt_url(url)?;
            (h, p, url.clone())
        }
        None => {
            broker::start(cfg.mqtt_addr, users.clone())?;
            let host = if cfg.mqtt_addr.ip().is_unspecified() {
                String::new()
            } else {
                cfg.mqtt_addr.ip().to_string()
            };
            let local = loopback_if_unspecified(cfg.mqtt_addr);
            (
                local.ip().to_string(),
                local.port(),
                format!("mqtt://{host}:{}", cfg.mqtt_addr.port()),
            )
        }
    };
    let (hub_user, hub_pass) = users
        .for_role("hub")
        .context("the MQTT user file has no hub credentials")?;
    let heartbeats: crate::status_ingest::Heartbeats = Default::default();
    StatusIngest {
        store: store.clone(),
        host: mqtt_host,
        port: mqtt_port,
        username: hub_user,
        password: hub_pass,
        heartbeats: heartbeats.clone(),
    }
    .start();
    Scheduler {
        store: store.clone(),
    }
    .start();
    controllers::start_all(&store, heartbeats, cfg.node_lifecycle.clone());
    crate::event_gc::EventGc {
        store: store.clone(),
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
    let link = Arc::new(HubLink {
        store: store.clone(),
        ca: material.ca.clone(),
        join_token: material.join_token.clone(),
        mqtt_users: users,
        mqtt_url: agent_mqtt_url,
        kubelet_version: format!(
            "v{}.{}.0-shoal.{}",
            api::discovery::KUBE_MAJOR,
            api::discovery::KUBE_MINOR,
            env!("CARGO_PKG_VERSION")
        ),
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
    })
}

impl Hub {
    pub async fn stop(self) {
        self.api.stop(true).await;
        self.quic.do_send(StopActor);
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
        assert_eq!(
            parse_mqtt_url("mqtt://127.0.0.1:1884").expect("ok"),
            ("127.0.0.1".into(), 1884)
        );
        assert_eq!(
            parse_mqtt_url("mqtt://broker").expect("ok"),
            ("broker".into(), 1883)
        );
        assert!(parse_mqtt_url("http://x").is_err());
        assert!(parse_mqtt_url("mqtt://x:notaport").is_err());
    }
}
