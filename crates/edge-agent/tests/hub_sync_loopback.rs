//! The agent against a tiny fake hub built from `shoal_transport`, over loopback QUIC
//! (127.0.0.1, port 0), with the in-memory `FakeRuntime`: join, sync (snapshot, deltas, ping,
//! acks), reconnect with resume, persistence across restarts, offline start, and refused joins.
//! No MQTT: the fake hub hands out an empty MQTT URL, which turns status reporting off.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_edge_agent::local_store::LocalStore;
use shoal_edge_agent::runtime::fake::FakeCall;
use shoal_edge_agent::runtime::FakeRuntime;
use shoal_edge_agent::{run_with_runtime, AgentConfig};
use shoal_transport::frame::{self, MAX_FRAME_LEN};
use shoal_transport::pki::{CertAuthority, IssuedCert};
use shoal_transport::quic;
use shoal_transport::token::JoinToken;
use shoal_transport::wire::*;
use tokio_util::sync::CancellationToken;

const STEP: Duration = Duration::from_secs(10);
const NODE: &str = "edge-1";

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

struct FakeHub {
    ca: CertAuthority,
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
}

impl FakeHub {
    fn start() -> FakeHub {
        let ca = CertAuthority::generate("fake-hub-ca").expect("ca");
        let server: IssuedCert = ca
            .issue_server_cert(&[], &["127.0.0.1".parse().expect("ip")])
            .expect("server cert");
        let endpoint = quic::server_endpoint(
            "127.0.0.1:0".parse().expect("addr"),
            &ca.cert_der,
            &server,
            &[7u8; 32],
        )
        .expect("server endpoint");
        let addr = endpoint.local_addr().expect("local addr");
        FakeHub { ca, endpoint, addr }
    }

    async fn accept(&self) -> quinn::Connection {
        let incoming = within("a connection", self.endpoint.accept())
            .await
            .expect("endpoint open");
        within(
            "the handshake",
            std::future::IntoFuture::into_future(incoming),
        )
        .await
        .expect("handshake")
    }

    /// Serves one join connection with `answer(request)`.
    async fn serve_join(&self, answer: impl FnOnce(&JoinRequest) -> JoinResponse) -> JoinRequest {
        let conn = self.accept().await;
        assert_eq!(
            quic::peer_node_name(&conn),
            None,
            "join connections are anonymous"
        );
        let (mut send, mut recv) = within("the join stream", conn.accept_bi())
            .await
            .expect("join stream");
        let req: JoinRequest = within("the join request", frame::read_frame(&mut recv, 64 * 1024))
            .await
            .expect("read")
            .expect("a request");
        frame::write_frame(&mut send, &answer(&req))
            .await
            .expect("write answer");
        send.finish().expect("finish");
        // The agent closes the join connection once it has the answer.
        within("the agent to close the join connection", conn.closed()).await;
        req
    }

    fn accept_join(&self, secret: &str) -> impl FnOnce(&JoinRequest) -> JoinResponse + '_ {
        let secret = secret.to_string();
        move |req| {
            assert!(
                shoal_transport::token::secrets_equal(&secret, &req.token_secret),
                "the agent presents the token secret"
            );
            let node_cert_pem = self
                .ca
                .sign_node_csr(&req.csr_pem, &req.node_name)
                .expect("sign");
            JoinResponse::Accepted(JoinAccepted {
                node_cert_pem,
                ca_cert_pem: self.ca.cert_pem.clone(),
                mqtt: MqttCredentials {
                    url: String::new(),
                    username: req.node_name.clone(),
                    password: "pw".into(),
                    ca_pem: String::new(),
                },
            })
        }
    }
}

struct Sync {
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    hello: AgentHello,
}

impl Sync {
    async fn accept(hub: &FakeHub) -> Sync {
        let conn = hub.accept().await;
        assert_eq!(
            quic::peer_node_name(&conn).as_deref(),
            Some(NODE),
            "mTLS with the node certificate"
        );
        let (send, mut recv) = within("the sync stream", conn.accept_bi())
            .await
            .expect("sync stream");
        let hello: AgentHello = within("the hello", frame::read_frame(&mut recv, MAX_FRAME_LEN))
            .await
            .expect("read hello")
            .expect("hello");
        Sync {
            conn,
            send,
            recv,
            hello,
        }
    }

    async fn send(&mut self, msg: HubMessage) {
        frame::write_frame(&mut self.send, &msg)
            .await
            .expect("write hub message");
    }

    async fn ack(&mut self) -> u64 {
        let msg: AgentMessage = within("an ack", frame::read_frame(&mut self.recv, 1024))
            .await
            .expect("read ack")
            .expect("an ack, not end of stream");
        let AgentMessage::Ack { revision } = msg;
        revision
    }
}

fn plan(uid: &str, revision: u64) -> PodPlan {
    PodPlan {
        uid: uid.into(),
        namespace: "default".into(),
        name: format!("pod-{uid}"),
        revision,
        restart_policy: RestartPolicy::Always,
        containers: vec![ContainerPlan {
            name: "main".into(),
            image: "localhost/busybox:latest".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn write_token(dir: &Path, token: &JoinToken) -> PathBuf {
    let path = dir.join("join-token");
    std::fs::write(&path, format!("{token}\n")).expect("token file");
    path
}

fn agent_config(hub: SocketAddr, token_file: &Path, data_dir: &Path) -> AgentConfig {
    let mut config = AgentConfig::new(hub.to_string(), token_file, NODE, data_dir);
    config.node_ip = "127.0.0.2".parse().expect("ip");
    config.labels = vec![("zone".into(), "lab".into())];
    config
}

#[actix_rt::test]
async fn joins_syncs_acks_persisted_revisions_reconnects_and_restarts_offline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("agent");
    let hub = FakeHub::start();
    let token = JoinToken::generate(&hub.ca.ca_hash()).expect("token");
    let token_file = write_token(tmp.path(), &token);
    let fake = Arc::new(FakeRuntime::new());
    let shutdown = CancellationToken::new();
    let agent = actix_rt::spawn(run_with_runtime(
        agent_config(hub.addr, &token_file, &data_dir),
        fake.clone(),
        shutdown.clone(),
    ));

    // Join.
    let req = hub.serve_join(hub.accept_join(&token.secret)).await;
    assert_eq!(req.node_name, NODE);

    // First sync session: hello, snapshot, delta.
    let mut sync = Sync::accept(&hub).await;
    assert_eq!(
        sync.hello.last_acked_revision, 0,
        "a fresh node has nothing"
    );
    let node = &sync.hello.node;
    assert_eq!(node.node_name, NODE);
    assert_eq!(node.node_ip, "127.0.0.2");
    assert_eq!(node.labels, [("zone".to_string(), "lab".to_string())]);
    assert_eq!(node.operating_system, "linux");
    assert!(
        node.container_runtime_version.starts_with("fake://"),
        "{node:?}"
    );
    assert!(node.capacity.iter().any(|(k, _)| k == "cpu"));

    sync.send(HubMessage::Snapshot {
        revision: 5,
        pods: vec![plan("u1", 5)],
    })
    .await;
    assert_eq!(sync.ack().await, 5);
    wait_for("pod u1 to start", || {
        fake.calls()
            .contains(&FakeCall::StartPod { uid: "u1".into() })
    })
    .await;

    sync.send(HubMessage::Delta {
        revision: 6,
        upserts: vec![],
        deletes: vec!["u1".into()],
    })
    .await;
    assert_eq!(sync.ack().await, 6);
    wait_for("pod u1 to be removed", || {
        fake.calls()
            .contains(&FakeCall::RemovePod { uid: "u1".into() })
    })
    .await;

    // The hub drops the connection; the agent comes back and resumes from what it acked.
    sync.conn.close(0u32.into(), b"hub restarting");
    let mut sync = Sync::accept(&hub).await;
    assert_eq!(
        sync.hello.last_acked_revision, 6,
        "resume from the last ack"
    );
    sync.send(HubMessage::Ping { revision: 6 }).await;
    sync.send(HubMessage::Delta {
        revision: 7,
        upserts: vec![plan("u2", 7)],
        deletes: vec![],
    })
    .await;
    assert_eq!(sync.ack().await, 7, "pings are not acked; the delta is");
    wait_for("pod u2 to start", || {
        fake.calls()
            .contains(&FakeCall::StartPod { uid: "u2".into() })
    })
    .await;

    shutdown.cancel();
    within("the agent to stop", agent)
        .await
        .expect("agent task")
        .expect("clean shutdown");
    within("the hub to see the agent go", sync.conn.closed()).await;

    // What the agent persisted: the snapshot, minus u1, plus u2, at revision 7.
    let store = LocalStore::open(&data_dir.join("state")).expect("the agent released its store");
    let desired = store.load().expect("load");
    assert_eq!(desired.revision(), 7);
    assert_eq!(desired.plans(), [plan("u2", 7)]);
    drop(store);
    for f in ["pki/ca.crt", "pki/node.crt", "pki/node.key", "mqtt.json"] {
        assert!(data_dir.join(f).is_file(), "{f} written at join");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join("pki/node.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Offline first: after a "reboot" (empty runtime) with the hub gone, the agent starts the
    // stored pods on its own, without joining again.
    hub.endpoint.close(0u32.into(), b"hub gone");
    hub.endpoint.wait_idle().await;
    let rebooted = Arc::new(FakeRuntime::new());
    let shutdown = CancellationToken::new();
    let agent = actix_rt::spawn(run_with_runtime(
        agent_config(hub.addr, Path::new("/nonexistent/token"), &data_dir),
        rebooted.clone(),
        shutdown.clone(),
    ));
    wait_for("pod u2 to start without the hub", || {
        rebooted
            .calls()
            .contains(&FakeCall::StartPod { uid: "u2".into() })
    })
    .await;
    shutdown.cancel();
    within("the agent to stop", agent)
        .await
        .expect("agent task")
        .expect("clean shutdown");
}

#[actix_rt::test]
async fn a_refused_join_ends_the_agent_with_the_hubs_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = FakeHub::start();
    let token = JoinToken::generate(&hub.ca.ca_hash()).expect("token");
    let token_file = write_token(tmp.path(), &token);
    let agent = actix_rt::spawn(run_with_runtime(
        agent_config(hub.addr, &token_file, &tmp.path().join("agent")),
        Arc::new(FakeRuntime::new()),
        CancellationToken::new(),
    ));
    hub.serve_join(|_| JoinResponse::Rejected("join token is invalid or expired".into()))
        .await;
    let err = within("the agent to give up", agent)
        .await
        .expect("agent task")
        .expect_err("a refused join is fatal");
    let text = format!("{err:#}");
    assert!(
        text.contains("hub refused the join: join token is invalid or expired"),
        "{text}"
    );
    assert!(
        !tmp.path().join("agent/pki/node.crt").exists(),
        "nothing saved"
    );
}

#[actix_rt::test]
async fn a_hub_with_another_ca_is_refused_without_retrying() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hub = FakeHub::start();
    let other = CertAuthority::generate("someone-else").expect("ca");
    let token = JoinToken::generate(&other.ca_hash()).expect("token");
    let token_file = write_token(tmp.path(), &token);
    let agent = actix_rt::spawn(run_with_runtime(
        agent_config(hub.addr, &token_file, &tmp.path().join("agent")),
        Arc::new(FakeRuntime::new()),
        CancellationToken::new(),
    ));
    // The hub answers the handshake; the agent's verifier refuses its chain.
    let endpoint = hub.endpoint.clone();
    let handshake = tokio::spawn(async move {
        let incoming = endpoint.accept().await.expect("endpoint open");
        incoming.await.is_ok()
    });
    let err = within("the agent to give up", agent)
        .await
        .expect("agent task")
        .expect_err("a forged hub is fatal");
    assert!(
        !within("the handshake", handshake).await.expect("task"),
        "no connection"
    );
    let text = format!("{err:#}");
    assert!(text.contains("hub CA does not match"), "{text}");
}

#[actix_rt::test]
async fn an_unreachable_hub_is_retried_until_shutdown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on: bind, note it, close.
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr").port()
    };
    let hub: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let ca = CertAuthority::generate("ca").expect("ca");
    let token = JoinToken::generate(&ca.ca_hash()).expect("token");
    let token_file = write_token(tmp.path(), &token);
    let shutdown = CancellationToken::new();
    let agent = actix_rt::spawn(run_with_runtime(
        agent_config(hub, &token_file, &tmp.path().join("agent")),
        Arc::new(FakeRuntime::new()),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!agent.is_finished(), "still trying to join");
    shutdown.cancel();
    within("the agent to stop", agent)
        .await
        .expect("agent task")
        .expect("shutdown while joining is clean");
}
