//! The embedded MQTT broker and the credentials it accepts.
//!
//! ```text
//!  clients ──TCP──> gate (broker_gate: auth, client-id binding, publish/subscribe ACLs,
//!                     │ keep-alive, last wills)
//!                     │ one in-process link per client (rumqttd `Broker::link`, no socket)
//!                     v
//!                   rumqttd's router (own thread: subscriptions, retained messages, QoS 1)
//! ```
//!
//! Design: rumqttd authenticates (a `(client_id, user, password) -> bool` handler) but has
//! no authorization hook at all: any authenticated client may publish on any topic. Rather
//! than fork it or write a broker, a small gate in front of it parses just the packets that
//! need a decision (CONNECT, PUBLISH, SUBSCRIBE), applies [`crate::broker_acl`] and hands
//! every other packet to rumqttd's router over an in-process link; rumqttd keeps doing what
//! it does well (routing, retained messages, QoS 1 flows). rumqttd opens no port of its
//! own, so the gate is the only way in.
//!
//! rumqttd's router has no shutdown, so it and the gate get threads of their own that end
//! with the process. Credentials live in [`MqttUsers`]: the
//! `DATA/mqtt-users` file (`user:password:role`; the hub appends nodes at join) plus reader
//! Secrets issued through the API (see [`READER_SECRET_TYPE`]).

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use serde_json::Value;

use crate::bootstrap::{self, BootstrapError};
use crate::broker_acl::Role;
use crate::resources::SECRETS;
use crate::store::Store;
use crate::users_log::UsersLog;

/// Largest MQTT payload the embedded broker accepts.
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Type of the Secrets that hold extra read-only MQTT credentials (issued by `shoalctl`):
/// namespace `kube-system`, name `mqtt-reader-<username>`, `data.username` and
/// `data.password` (base64, as for any Secret). Deleting the Secret revokes them.
pub const READER_SECRET_TYPE: &str = "shoal.io/mqtt-reader";
/// Namespace of the reader Secrets.
pub const READER_SECRET_NAMESPACE: &str = "kube-system";

/// The name of the reader Secret for `user`.
pub fn reader_secret_name(user: &str) -> String {
    format!("mqtt-reader-{user}")
}

/// One broker user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MqttUser {
    pub username: String,
    pub password: String,
    pub role: Role,
}

/// The broker's users: `DATA/mqtt-users` (kept in memory, appended at join) plus reader
/// Secrets in the store. Cheap to clone.
#[derive(Clone)]
pub struct MqttUsers {
    inner: Arc<RwLock<HashMap<String, (String, String)>>>,
    /// `DATA/mqtt-users`, appended to (durably, in groups) as nodes join.
    log: Arc<UsersLog>,
    store: Option<Store>,
    /// Called after a node's credentials were issued (writes the Mosquitto files).
    on_change: Option<Arc<dyn Fn(&MqttUsers) + Send + Sync>>,
}

impl MqttUsers {
    pub fn load(file: PathBuf) -> Result<Self, BootstrapError> {
        let mut map = HashMap::new();
        let mut lines = Vec::new();
        for (user, pass, role) in bootstrap::mqtt_users(&file)? {
            lines.push((user.clone(), format!("{user}:{pass}:{role}")));
            map.insert(user, (pass, role));
        }
        Ok(MqttUsers {
            inner: Arc::new(RwLock::new(map)),
            log: Arc::new(UsersLog::open(file, &lines)),
            store: None,
            on_change: None,
        })
    }

    /// Also accepts the reader Secrets of `store`.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Runs `f` after every change to the user table.
    pub fn on_change(mut self, f: impl Fn(&MqttUsers) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Arc::new(f));
        self
    }

    /// The role of `user` if `pass` is its password; `None` otherwise (also for a user
    /// whose role is not one the broker knows).
    pub fn authenticate(&self, user: &str, pass: &str) -> Option<Role> {
        {
            let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some((p, role)) = map.get(user) {
                return shoal_transport::token::secrets_equal(p, pass)
                    .then(|| Role::parse(role))
                    .flatten();
            }
        }
        let (u, p) = self.reader_secret(user)?;
        (u == user && shoal_transport::token::secrets_equal(&p, pass)).then_some(Role::Reader)
    }

    pub fn check(&self, user: &str, pass: &str) -> bool {
        self.authenticate(user, pass).is_some()
    }

    /// `(username, password)` of the reader Secret for `user`, if there is one.
    fn reader_secret(&self, user: &str) -> Option<(String, String)> {
        let store = self.store.as_ref()?;
        let obj = store.get(&SECRETS, READER_SECRET_NAMESPACE, &reader_secret_name(user))?;
        reader_from_secret(&obj.value())
    }

    /// Every user: the file's, then the reader Secrets'.
    pub fn all(&self) -> Vec<MqttUser> {
        let mut out: Vec<MqttUser> = {
            let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
            map.iter()
                .filter_map(|(u, (p, r))| {
                    Some(MqttUser {
                        username: u.clone(),
                        password: p.clone(),
                        role: Role::parse(r)?,
                    })
                })
                .collect()
        };
        out.sort_by(|a, b| a.username.cmp(&b.username));
        if let Some(store) = &self.store {
            let secrets = store.list(
                &SECRETS,
                Some(READER_SECRET_NAMESPACE),
                &|o| o.field("type") == Some(READER_SECRET_TYPE),
                None,
                0,
            );
            for s in secrets.items {
                if let Some((username, password)) = reader_from_secret(&s.value()) {
                    if !out.iter().any(|u| u.username == username) {
                        out.push(MqttUser {
                            username,
                            password,
                            role: Role::Reader,
                        });
                    }
                }
            }
        }
        out
    }

    /// Credentials of a role (the first user holding it).
    pub fn for_role(&self, role: &str) -> Option<(String, String)> {
        let map = self.inner.read().unwrap_or_else(|e| e.into_inner());
        map.iter()
            .find(|(_, (_, r))| r == role)
            .map(|(u, (p, _))| (u.clone(), p.clone()))
    }

    /// Issues (or re-issues) a node's credentials and persists them (blocks until they are
    /// on disk: call it off async threads).
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
        let role = Role::Node(node.to_string()).as_column();
        self.log.append(format!("{user}:{pass}:{role}"))?;
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.clone(), (pass.clone(), role));
        if let Some(f) = &self.on_change {
            f(self);
        }
        Ok((user, pass))
    }
}

/// `(username, password)` of a reader Secret, if it is one and is well formed.
fn reader_from_secret(v: &Value) -> Option<(String, String)> {
    if v.get("type").and_then(Value::as_str) != Some(READER_SECRET_TYPE) {
        return None;
    }
    let field = |k: &str| -> Option<String> {
        let b64 = v.pointer(&format!("/data/{k}"))?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        String::from_utf8(bytes).ok()
    };
    let (user, pass) = (field("username")?, field("password")?);
    (!user.is_empty() && !pass.is_empty() && !user.contains(':')).then_some((user, pass))
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

/// Starts the embedded broker (gate on `addr`, and on `tls`'s address over TLS, rumqttd's
/// router behind it); returns the addresses the gate listens on.
pub fn start(
    addr: SocketAddr,
    tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    users: MqttUsers,
) -> Result<(SocketAddr, Option<SocketAddr>), BrokerError> {
    // The public listeners are bound here, so a taken port fails the hub's start clearly.
    let listener = TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
    let public = listener.local_addr().unwrap_or(addr);
    let tls_listener = match tls {
        Some((tls_addr, cfg)) => {
            let l = TcpListener::bind(tls_addr).map_err(|source| BrokerError::Bind {
                addr: tls_addr,
                source,
            })?;
            l.set_nonblocking(true).map_err(BrokerError::Thread)?;
            let bound = l.local_addr().unwrap_or(tls_addr);
            Some((l, tokio_rustls::TlsAcceptor::from(cfg), bound))
        }
        None => None,
    };
    let public_tls = tls_listener.as_ref().map(|(_, _, a)| *a);
    // Design: rumqttd runs without any listener of its own; every client reaches its router
    // through an in-process link the gate makes (one descriptor per client, see
    // `broker_gate`). Local links cannot ask for dynamic filters, so the two subtrees anyone
    // may publish under (nodes' status, the hub's summaries) are created up front: every
    // authorized publish has a log to go to even before anyone subscribes.
    let root = shoal_transport::status::TOPIC_ROOT;
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: crate::broker_gate::MAX_CONNECTIONS + 10,
            max_outgoing_packet_count: 500,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: Some(vec![format!("{root}/nodes/#"), format!("{root}/cluster/#")]),
            shared_subscriptions_strategy: Default::default(),
        },
        ..Default::default()
    };
    // `Broker::new` spawns rumqttd's router thread (it has no shutdown: it ends with the
    // process).
    let broker = Arc::new(rumqttd::Broker::new(config));
    let gate = crate::broker_gate::GateConfig {
        users,
        broker,
        max_packet: MAX_PAYLOAD + crate::broker_gate::PACKET_OVERHEAD,
    };
    listener
        .set_nonblocking(true)
        .map_err(BrokerError::Thread)?;
    std::thread::Builder::new()
        .name("mqtt-gate".into())
        .spawn(move || {
            // Links are made on the blocking pool (rumqttd's `link` waits on a blocking
            // channel); a few threads are enough, and a connect storm must not grow hundreds.
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .max_blocking_threads(4)
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the MQTT gate's runtime");
                    return;
                }
            };
            rt.block_on(async move {
                let gate = Arc::new(gate);
                let slots = Arc::new(tokio::sync::Semaphore::new(
                    crate::broker_gate::MAX_CONNECTIONS,
                ));
                if let Some((l, acceptor, _)) = tls_listener {
                    match tokio::net::TcpListener::from_std(l) {
                        Ok(l) => {
                            tokio::spawn(crate::broker_gate::serve_with(
                                l,
                                Some(acceptor),
                                gate.clone(),
                                slots.clone(),
                            ));
                        }
                        Err(e) => tracing::error!(error = %e, "cannot listen for MQTT over TLS"),
                    }
                }
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => crate::broker_gate::serve_with(l, None, gate, slots).await,
                    Err(e) => tracing::error!(error = %e, "cannot listen for MQTT"),
                }
            });
        })
        .map_err(BrokerError::Thread)?;
    Ok((public, public_tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reader_secrets_parse() {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ok = json!({"type": READER_SECRET_TYPE, "data": {"username": b("dash"), "password": b("pw")}});
        assert_eq!(reader_from_secret(&ok), Some(("dash".into(), "pw".into())));
        let wrong_type =
            json!({"type": "Opaque", "data": {"username": b("dash"), "password": b("pw")}});
        assert_eq!(reader_from_secret(&wrong_type), None);
        let empty =
            json!({"type": READER_SECRET_TYPE, "data": {"username": b("dash"), "password": ""}});
        assert_eq!(reader_from_secret(&empty), None);
        let bad_b64 =
            json!({"type": READER_SECRET_TYPE, "data": {"username": "%%", "password": b("pw")}});
        assert_eq!(reader_from_secret(&bad_b64), None);
    }

    #[test]
    fn users_authenticate_to_roles() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("mqtt-users");
        std::fs::write(&file, "shoal-hub:h:hub\nreader:r:reader\nodd:o:admin\n").expect("write");
        let users = MqttUsers::load(file).expect("load");
        assert_eq!(users.authenticate("shoal-hub", "h"), Some(Role::Hub));
        assert_eq!(users.authenticate("reader", "r"), Some(Role::Reader));
        assert_eq!(users.authenticate("reader", "x"), None);
        assert_eq!(
            users.authenticate("odd", "o"),
            None,
            "unknown roles get nothing"
        );
        let (u, p) = users.issue_for_node("edge-1").expect("issue");
        assert_eq!(
            users.authenticate(&u, &p),
            Some(Role::Node("edge-1".into()))
        );
        assert_eq!(users.all().len(), 3, "the unknown role is left out");
    }
}
