//! The hub's side of logs and exec ([`node_stream::open`]) against the agent's stream server
//! ([`shoal_edge_agent::streams::serve`]) with the in-memory `FakeRuntime`, over loopback QUIC
//! with real mTLS: what reaches the runtime, what comes back, and how bad or missing answers
//! from an agent become Kubernetes errors instead of hangs or panics.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use shoal_edge_agent::runtime::{FakeRuntime, ObservedContainer, ObservedPod, ObservedState};
use shoal_hub::api::node_stream::{self, PodTarget};
use shoal_hub::node_conns::NodeConns;
use shoal_transport::frame::{read_frame, write_frame};
use shoal_transport::pki::{CertAuthority, NodeKey};
use shoal_transport::quic;
use shoal_transport::wire::*;

const STEP: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A hub endpoint and a way to connect agents to it; returns (hub side, agent side).
struct Loopback {
    ca: CertAuthority,
    hub: quinn::Endpoint,
}

impl Loopback {
    fn new() -> Loopback {
        let ca = CertAuthority::generate("streams-test-ca").expect("ca");
        let server = ca
            .issue_server_cert(&[], &["127.0.0.1".parse().expect("ip")])
            .expect("server cert");
        let hub = quic::server_endpoint(
            "127.0.0.1:0".parse().expect("addr"),
            &ca.cert_der,
            &server,
            &[3u8; 32],
        )
        .expect("hub endpoint");
        Loopback { ca, hub }
    }

    async fn connect(&self, node: &str) -> (quinn::Connection, quinn::Connection) {
        let key = NodeKey::generate().expect("key");
        let cert = self
            .ca
            .sign_node_csr(&key.csr_pem(node).expect("csr"), node)
            .expect("node cert");
        let config =
            quic::mtls_client_config(&self.ca.cert_pem, &cert, key.key_pem()).expect("config");
        let addr = self.hub.local_addr().expect("addr");
        let client = quic::client_endpoint(addr).expect("client endpoint");
        let accept = async {
            let incoming = self.hub.accept().await.expect("incoming");
            incoming.await.expect("handshake")
        };
        let (hub_side, agent_side) = within("the connection", async {
            tokio::join!(accept, quic::connect(&client, config, addr))
        })
        .await;
        (hub_side, agent_side.expect("agent connects"))
    }
}

fn target(node: &str, uid: &str) -> PodTarget {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default", "uid": uid},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
    }))
    .expect("pod");
    PodTarget {
        pod,
        pod_ref: PodRef {
            uid: uid.into(),
            namespace: "default".into(),
            name: "web".into(),
        },
        node: node.into(),
    }
}

fn running_pod(uid: &str) -> ObservedPod {
    ObservedPod {
        uid: uid.into(),
        namespace: "default".into(),
        name: "web".into(),
        pod_ip: None,
        created_at_ms: Some(1),
        containers: vec![ObservedContainer {
            name: "c".into(),
            id: "fake://1".into(),
            image: "i".into(),
            image_id: String::new(),
            state: ObservedState::Running { started_at_ms: 1 },
            init: false,
            restart_count: 0,
        }],
        file_volumes: Vec::new(),
    }
}

fn logs(uid: &str, container: &str, tail: Option<u64>) -> StreamRequest {
    StreamRequest::Logs(LogsRequest {
        pod: target("n", uid).pod_ref,
        container: container.into(),
        tail_lines: tail,
        ..Default::default()
    })
}

fn exec(uid: &str, stdin: bool) -> StreamRequest {
    StreamRequest::Exec(ExecRequest {
        pod: target("n", uid).pod_ref,
        container: "c".into(),
        command: vec!["echo".into(), "hi".into()],
        stdin,
        stdout: true,
        stderr: true,
        tty: false,
    })
}

async fn read_all(mut recv: quinn::RecvStream) -> Vec<u8> {
    within("the stream's end", recv.read_to_end(1 << 20))
        .await
        .expect("read to end")
}

#[tokio::test]
async fn logs_and_exec_reach_the_agents_runtime() {
    let lo = Loopback::new();
    let (hub_side, agent_side) = lo.connect("edge-1").await;
    let conns = NodeConns::default();
    let _registered = conns.register("edge-1", hub_side);
    let runtime = Arc::new(FakeRuntime::new());
    runtime.insert_pod(running_pod("u1"));
    runtime.append_log("u1", "c", b"a\nb\nc\n");
    tokio::spawn(shoal_edge_agent::streams::serve(
        agent_side,
        runtime.clone(),
    ));
    let web = target("edge-1", "u1");

    // Logs: the runtime's output, as asked for.
    let (_send, recv) = node_stream::open(&conns, &web, &logs("u1", "c", Some(2)))
        .await
        .expect("logs open");
    assert_eq!(read_all(recv).await, b"b\nc\n");

    // Exec: output, stdin echoed, then the exit code.
    let (mut send, mut recv) = node_stream::open(&conns, &web, &exec("u1", true))
        .await
        .expect("exec open");
    write_frame(&mut send, &ExecInput::Stdin(b"typed".to_vec()))
        .await
        .expect("stdin");
    write_frame(&mut send, &ExecInput::CloseStdin)
        .await
        .expect("close stdin");
    let mut got = Vec::new();
    loop {
        let msg = within(
            "exec output",
            read_frame::<ExecOutput>(&mut recv, MAX_STREAM_FRAME),
        )
        .await
        .expect("frame")
        .expect("exec ends with Exit before the stream ends");
        let done = matches!(msg, ExecOutput::Exit { .. });
        got.push(msg);
        if done {
            break;
        }
    }
    assert_eq!(
        got,
        vec![
            ExecOutput::Stdout(b"echo hi\n".to_vec()),
            ExecOutput::Stdout(b"typed".to_vec()),
            ExecOutput::Exit {
                code: 0,
                message: String::new()
            },
        ]
    );

    // A container the node does not run, and exec in one that stopped: 400s with the reason.
    let e = node_stream::open(&conns, &web, &logs("u1", "other", None))
        .await
        .expect_err("unknown container");
    assert_eq!(e.code, 400);
    assert!(e.message.contains("has not been created"), "{}", e.message);
    runtime.exit_container("u1", "c", 0);
    let e = node_stream::open(&conns, &web, &exec("u1", false))
        .await
        .expect_err("not running");
    assert_eq!(e.code, 400);
    assert!(e.message.contains("is not running"), "{}", e.message);

    // A garbled request does not take the agent's stream server down.
    let conn = conns.get("edge-1").expect("connected");
    let (mut send, recv) = conn.open_bi().await.expect("stream");
    send.write_all(&[0, 0, 0, 4, PROTOCOL_VERSION, 0xff, 0xff, 0xff])
        .await
        .expect("write");
    let _ = send.finish();
    assert!(read_all(recv).await.is_empty(), "nothing answers garbage");
    let (_send, recv) = node_stream::open(&conns, &web, &logs("u1", "c", None))
        .await
        .expect("still serving");
    assert_eq!(read_all(recv).await, b"a\nb\nc\n");
}

#[tokio::test]
async fn bad_or_missing_answers_from_an_agent_are_errors() {
    let lo = Loopback::new();
    let conns = NodeConns::default();

    // Not connected at all, or not scheduled: clear errors before anything is sent.
    let e = node_stream::open(&conns, &target("edge-9", "u"), &logs("u", "c", None))
        .await
        .expect_err("offline");
    assert_eq!(e.code, 502);
    assert!(
        e.message.contains("not connected to the hub"),
        "{}",
        e.message
    );
    let e = node_stream::open(&conns, &target("", "u"), &logs("u", "c", None))
        .await
        .expect_err("unscheduled");
    assert_eq!(e.code, 400);
    assert_eq!(e.message, "pod web does not have a host assigned");

    // An agent that answers garbage, then one that hangs up without answering.
    let (hub_side, agent_side) = lo.connect("edge-2").await;
    let _registered = conns.register("edge-2", hub_side);
    tokio::spawn(async move {
        let answers: [&[u8]; 3] = [
            &[0, 0, 0, 3, PROTOCOL_VERSION, 0x07, 0x07],
            &[0xff, 0xff, 0xff, 0xff],
            &[],
        ];
        for answer in answers {
            let (mut send, mut recv) = agent_side.accept_bi().await.expect("stream");
            let _ = read_frame::<StreamRequest>(&mut recv, MAX_STREAM_FRAME).await;
            send.write_all(answer).await.expect("write");
            send.finish().expect("finish");
        }
        agent_side.closed().await;
    });
    for what in ["a garbled reply", "an oversized length", "no reply at all"] {
        let e = node_stream::open(&conns, &target("edge-2", "u"), &logs("u", "c", None))
            .await
            .expect_err(what);
        assert_eq!(e.code, 502, "{what}: {}", e.message);
        assert!(e.message.contains("edge-2"), "{what}: {}", e.message);
    }

    // A registration ends with its session; a newer connection of the node is not removed by
    // an older one's end.
    let (old, _a1) = lo.connect("edge-3").await;
    let (new, _a2) = lo.connect("edge-3").await;
    let first = conns.register("edge-3", old);
    let second = conns.register("edge-3", new.clone());
    drop(first);
    assert_eq!(
        conns.get("edge-3").map(|c| c.stable_id()),
        Some(new.stable_id())
    );
    drop(second);
    assert!(conns.get("edge-3").is_none());
}
