//! The embedded MQTT broker (rumqttd) and the credentials it accepts.
//!
//! Design: rumqttd's `Broker::start()` blocks forever and has no shutdown, so it gets a
//! thread of its own that ends with the process. Credentials are checked by an auth handler
//! against [`MqttUsers`], which the hub updates when a node joins; the same table is
//! persisted in `DATA/mqtt-users` so a restarted hub accepts the nodes it already knows.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::bootstrap::{self, BootstrapError};

/// Largest MQTT payload the embedded broker accepts.
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// user -> (password, role). Roles: "hub", "reader", "node:<name>".
#[derive(Clone)]
pub struct MqttUsers {
    inner: Arc<RwLock<HashMap<String, (String, String)>>>,
    file: PathBuf,
}

impl MqttUsers {
    pub fn load(file: PathBuf) -> Result<Self, BootstrapError> {
        let mut map = HashMap::new();
        for (user, pass, role) in bootstrap::mqtt_users(&file)? {
            map.insert(user, (pass, role));
        }
        Ok(MqttUsers {
            inner: Arc::new(RwLock::new(map)),
            file,
        })
    }

    pub fn check(&self, user: &str, pass: &str) -> bool {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.get(user)
            .is_some_and(|(p, _)| shoal_transport::token::secrets_equal(p, pass))
    }

    /// Credentials of a role (the first user holding it).
    pub fn for_role(&self, role: &str) -> Option<(String, String)> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .find(|(_, (_, r))| r == role)
            .map(|(u, (p, _))| (u.clone(), p.clone()))
    }

    /// Issues (or re-issues) a node's credentials and persists them.
    pub fn issue_for_node(&self, node: &str) -> Result<(String, String), BootstrapError> {
        let user = format!("node-{node}");
        let pass = {
            use rand::distributions::Alphanumeric;
            use rand::Rng;
            rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(32)
                .map(char::from)
                .collect::<String>()
        };
        bootstrap::append_mqtt_user(&self.file, &user, &pass, &format!("node:{node}"))?;
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.clone(), (pass.clone(), format!("node:{node}")));
        Ok((user, pass))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot listen for MQTT on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the MQTT broker thread")]
    Thread(#[source] std::io::Error),
}

/// Starts the embedded broker on `addr`.
pub fn start(addr: SocketAddr, users: MqttUsers) -> Result<(), BrokerError> {
    // Fail early and clearly if the port is taken (rumqttd would only log it on its thread).
    drop(TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?);
    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: MAX_PAYLOAD,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    connections.set_auth_handler(move |_client_id: String, user: String, pass: String| {
        let ok = users.check(&user, &pass);
        async move { ok }
    });
    let server = rumqttd::ServerSettings {
        name: "v4-embedded".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 20_010,
            max_outgoing_packet_count: 500,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("embedded".to_string(), server)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(BrokerError::Thread)?;
    // Return once it accepts connections, so the hub's own subscriber connects first time.
    for _ in 0..50 {
        if std::net::TcpStream::connect_timeout(
            &addr_for_connect(addr),
            std::time::Duration::from_millis(100),
        )
        .is_ok()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

fn addr_for_connect(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    }
}
