//! End-to-end QUIC tests over loopback (127.0.0.1, port 0): join with a pinned CA, mTLS
//! identity, rejection of foreign CAs, and the frame size limit across a real stream.

use std::net::SocketAddr;
use std::time::Duration;

use shoal_transport::frame::{self, FrameError, MAX_FRAME_LEN};
use shoal_transport::pki::{ca_hash_of_pem, CertAuthority, IssuedCert, NodeKey};
use shoal_transport::quic::{self, QuicError, CA_MISMATCH_MESSAGE};
use shoal_transport::token::JoinToken;
use shoal_transport::wire::*;

const STEP: Duration = Duration::from_secs(5);

struct Hub {
    ca: CertAuthority,
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
}

fn hub() -> Hub {
    let ca = CertAuthority::generate("test-ca").expect("ca");
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
    Hub { ca, endpoint, addr }
}

/// Accepts the next connection and completes its handshake.
async fn accept(endpoint: &quinn::Endpoint) -> Result<quinn::Connection, quinn::ConnectionError> {
    let incoming = endpoint.accept().await.expect("endpoint open");
    incoming.await
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[tokio::test]
async fn join_then_mtls_identifies_the_node_and_frames_flow_both_ways() {
    let hub = hub();
    let token = JoinToken::generate(&hub.ca.ca_hash()).expect("token");
    let token_line = token.to_string();

    // The hub side: serve one join, then one mTLS sync stream.
    let hub_ca = hub.ca.clone();
    let hub_endpoint = hub.endpoint.clone();
    let hub_secret = token.secret.clone();
    let hub_task = tokio::spawn(async move {
        // Join connection: no client certificate.
        let conn = accept(&hub_endpoint).await.expect("join handshake");
        assert_eq!(
            quic::peer_node_name(&conn),
            None,
            "join connection is anonymous"
        );
        let (mut send, mut recv) = conn.accept_bi().await.expect("join stream");
        let req: JoinRequest = frame::read_frame(&mut recv, 64 * 1024)
            .await
            .expect("read join request")
            .expect("a request, not end of stream");
        assert!(
            shoal_transport::token::secrets_equal(&hub_secret, &req.token_secret),
            "agent presents the token secret"
        );
        let node_cert_pem = hub_ca
            .sign_node_csr(&req.csr_pem, &req.node_name)
            .expect("sign");
        let resp = JoinResponse::Accepted(JoinAccepted {
            node_cert_pem,
            ca_cert_pem: hub_ca.cert_pem.clone(),
            mqtt: MqttCredentials {
                url: "mqtt://:1883".into(),
                username: req.node_name.clone(),
                password: "pw".into(),
                ca_pem: String::new(),
            },
        });
        frame::write_frame(&mut send, &resp)
            .await
            .expect("write response");
        send.finish().expect("finish");
        // The agent closes once it has the answer.
        conn.closed().await;

        // mTLS connection: the node certificate names the peer.
        let conn = accept(&hub_endpoint).await.expect("mtls handshake");
        let who = quic::peer_node_name(&conn);
        let (mut send, mut recv) = conn.accept_bi().await.expect("sync stream");
        let hello: AgentHello = frame::read_frame(&mut recv, frame::MAX_FRAME_LEN)
            .await
            .expect("read hello")
            .expect("hello");
        frame::write_frame(
            &mut send,
            &HubMessage::Snapshot {
                revision: 5,
                pods: vec![PodPlan {
                    uid: "u1".into(),
                    name: "web".into(),
                    namespace: "default".into(),
                    revision: 5,
                    ..Default::default()
                }],
            },
        )
        .await
        .expect("write snapshot");
        let ack: AgentMessage = frame::read_frame(&mut recv, 1024)
            .await
            .expect("read ack")
            .expect("ack");
        send.finish().expect("finish");
        conn.closed().await;
        (who, hello, ack)
    });

    // The agent side.
    let token = JoinToken::parse(&token_line).expect("token parses");
    let endpoint = quic::client_endpoint(hub.addr).expect("client endpoint");
    let join_cfg = quic::join_client_config(&token.ca_hash).expect("join config");
    let conn = within("join connect", quic::connect(&endpoint, join_cfg, hub.addr))
        .await
        .expect("join connection to the pinned hub");
    let key = NodeKey::generate().expect("node key");
    let (mut send, mut recv) = conn.open_bi().await.expect("open join stream");
    let req = JoinRequest {
        token_secret: token.secret.clone(),
        node_name: "edge-1".into(),
        csr_pem: key.csr_pem("edge-1").expect("csr"),
    };
    frame::write_frame(&mut send, &req)
        .await
        .expect("send join request");
    send.finish().expect("finish");
    let resp: JoinResponse = within("join response", frame::read_frame(&mut recv, 64 * 1024))
        .await
        .expect("read join response")
        .expect("a response");
    let JoinResponse::Accepted(accepted) = resp else {
        panic!("join rejected: {resp:?}");
    };
    assert_eq!(
        ca_hash_of_pem(&accepted.ca_cert_pem).expect("ca pem"),
        token.ca_hash,
        "the CA handed out is the pinned one"
    );
    assert_eq!(accepted.mqtt.username, "edge-1");
    conn.close(0u32.into(), b"joined");

    let mtls_cfg = quic::mtls_client_config(
        &accepted.ca_cert_pem,
        &accepted.node_cert_pem,
        key.key_pem(),
    )
    .expect("mtls config");
    let conn = within("mtls connect", quic::connect(&endpoint, mtls_cfg, hub.addr))
        .await
        .expect("mtls connection");
    let (mut send, mut recv) = conn.open_bi().await.expect("open sync stream");
    let hello = AgentHello {
        node: NodeInfo {
            node_name: "edge-1".into(),
            node_ip: "127.0.0.2".into(),
            ..Default::default()
        },
        last_acked_revision: 0,
    };
    frame::write_frame(&mut send, &hello)
        .await
        .expect("send hello");
    let msg: HubMessage = within("snapshot", frame::read_frame(&mut recv, MAX_FRAME_LEN))
        .await
        .expect("read snapshot")
        .expect("snapshot");
    let HubMessage::Snapshot { revision, pods } = msg else {
        panic!("expected a snapshot, got {msg:?}");
    };
    assert_eq!(revision, 5);
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].uid, "u1");
    frame::write_frame(&mut send, &AgentMessage::Ack { revision })
        .await
        .expect("send ack");
    send.finish().expect("finish");
    // The hub finishes its side: a clean end of stream reads as None.
    let end: Option<HubMessage> = within("end of stream", frame::read_frame(&mut recv, 1024))
        .await
        .expect("clean end");
    assert_eq!(end, None);
    conn.close(0u32.into(), b"done");

    let (who, hub_saw_hello, ack) = within("hub task", hub_task).await.expect("hub task");
    assert_eq!(
        who.as_deref(),
        Some("edge-1"),
        "hub identifies the node by its certificate"
    );
    assert_eq!(hub_saw_hello, hello);
    assert_eq!(ack, AgentMessage::Ack { revision: 5 });
    endpoint.wait_idle().await;
}

#[tokio::test]
async fn join_client_pinned_to_another_ca_cannot_connect() {
    let hub = hub();
    let other = CertAuthority::generate("impostor").expect("other ca");
    let hub_endpoint = hub.endpoint.clone();
    let hub_task = tokio::spawn(async move { accept(&hub_endpoint).await.map(|_| ()) });

    let endpoint = quic::client_endpoint(hub.addr).expect("client endpoint");
    let cfg = quic::join_client_config(&other.ca_hash()).expect("join config");
    let err = within("connect", quic::connect(&endpoint, cfg, hub.addr))
        .await
        .expect_err("pinned CA differs: must fail");
    assert!(
        matches!(err, QuicError::HubCaMismatch { addr } if addr == hub.addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(CA_MISMATCH_MESSAGE), "{err}");
    assert!(
        within("hub side", hub_task).await.expect("task").is_err(),
        "hub sees the handshake fail"
    );

    // The same client pinned to the right hash gets in: the failure above was the pin.
    let cfg = quic::join_client_config(&hub.ca.ca_hash()).expect("join config");
    let hub_endpoint = hub.endpoint.clone();
    let hub_task = tokio::spawn(async move { accept(&hub_endpoint).await.map(|_| ()) });
    let conn = within("connect", quic::connect(&endpoint, cfg, hub.addr))
        .await
        .expect("right pin connects");
    within("hub side", hub_task)
        .await
        .expect("task")
        .expect("hub accepts");
    conn.close(0u32.into(), b"");
}

#[tokio::test]
async fn hub_with_a_self_made_ca_not_in_its_chain_is_refused() {
    // A hub whose chain does not contain the pinned CA at all (e.g. a MITM that sends only
    // its own leaf) must be refused even though the pin is syntactically fine.
    let hub = hub();
    let hub_endpoint = hub.endpoint.clone();
    let hub_task = tokio::spawn(async move { accept(&hub_endpoint).await.map(|_| ()) });
    let pin = format!("sha256:{}", "0".repeat(64));
    let endpoint = quic::client_endpoint(hub.addr).expect("client endpoint");
    let cfg = quic::join_client_config(&pin).expect("join config");
    let err = within("connect", quic::connect(&endpoint, cfg, hub.addr))
        .await
        .expect_err("must fail");
    assert!(matches!(err, QuicError::HubCaMismatch { .. }), "{err:?}");
    let _ = within("hub side", hub_task).await;
    assert!(matches!(
        quic::join_client_config("sha256:nothex"),
        Err(QuicError::CaHash { .. })
    ));
}

#[tokio::test]
async fn mtls_client_with_a_foreign_ca_certificate_is_rejected() {
    let hub = hub();
    let foreign = CertAuthority::generate("foreign").expect("foreign ca");
    let key = NodeKey::generate().expect("key");
    let forged = foreign
        .sign_node_csr(&key.csr_pem("edge-9").expect("csr"), "edge-9")
        .expect("foreign-signed cert");

    let hub_endpoint = hub.endpoint.clone();
    let hub_task = tokio::spawn(async move {
        accept(&hub_endpoint)
            .await
            .map(|conn| quic::peer_node_name(&conn))
    });

    // The client trusts the real hub CA, so only the client certificate is wrong.
    let endpoint = quic::client_endpoint(hub.addr).expect("client endpoint");
    let cfg = quic::mtls_client_config(&hub.ca.cert_pem, &forged, key.key_pem()).expect("config");
    let client_result = within("connect", quic::connect(&endpoint, cfg, hub.addr)).await;
    let hub_result = within("hub side", hub_task).await.expect("task");
    assert!(
        hub_result.is_err(),
        "hub must not establish a connection with a foreign-CA client cert: {hub_result:?}"
    );
    // In TLS 1.3 the client may finish its side before the server checks its certificate;
    // either the connect fails or the connection dies before any exchange succeeds.
    if let Ok(conn) = client_result {
        let outcome = within("use connection", async {
            let (mut send, mut recv) = conn.open_bi().await?;
            frame::write_frame(&mut send, &AgentMessage::Ack { revision: 1 }).await?;
            frame::read_frame::<HubMessage>(&mut recv, 1024).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .await;
        assert!(outcome.is_err(), "the connection must not be usable");
    }
}

#[tokio::test]
async fn user_certificate_is_not_a_node_identity() {
    let hub = hub();
    let admin = hub
        .ca
        .issue_client_cert("admin", "system:masters")
        .expect("admin cert");
    let hub_endpoint = hub.endpoint.clone();
    let hub_task = tokio::spawn(async move {
        let conn = accept(&hub_endpoint).await.expect("handshake");
        let name = quic::peer_node_name(&conn);
        conn.close(0u32.into(), b"");
        name
    });
    let endpoint = quic::client_endpoint(hub.addr).expect("client endpoint");
    let cfg = quic::mtls_client_config(&hub.ca.cert_pem, &admin.cert_pem, &admin.key_pem)
        .expect("config");
    let _conn = within("connect", quic::connect(&endpoint, cfg, hub.addr))
        .await
        .expect("a CA-signed user cert completes TLS");
    assert_eq!(within("hub side", hub_task).await.expect("task"), None);
}

#[tokio::test]
async fn oversized_frame_from_a_peer_is_refused_without_allocating() {
    let hub = hub();
    let hub_endpoint = hub.endpoint.clone();
    let hub_task = tokio::spawn(async move {
        let conn = accept(&hub_endpoint).await.expect("handshake");
        // Stream 1: a length prefix claiming more than MAX_FRAME_LEN, and no body at all. If
        // the reader trusted it, it would allocate and then wait forever for the body.
        let (_s1, mut r1) = conn.accept_bi().await.expect("stream 1");
        let first = frame::read_frame::<HubMessage>(&mut r1, MAX_FRAME_LEN).await;
        // Stream 2: a real frame larger than this reader's own limit.
        let (_s2, mut r2) = conn.accept_bi().await.expect("stream 2");
        let second = frame::read_frame::<HubMessage>(&mut r2, 1024).await;
        // Stream 3: a frame cut short by the end of the stream.
        let (_s3, mut r3) = conn.accept_bi().await.expect("stream 3");
        let third = frame::read_frame::<HubMessage>(&mut r3, 1024).await;
        conn.close(0u32.into(), b"");
        (first, second, third)
    });

    let endpoint = quic::client_endpoint(hub.addr).expect("client endpoint");
    let cfg = quic::join_client_config(&hub.ca.ca_hash()).expect("join config");
    let conn = within("connect", quic::connect(&endpoint, cfg, hub.addr))
        .await
        .expect("connect");

    let (mut s1, _r1) = conn.open_bi().await.expect("open 1");
    let claimed = u32::try_from(MAX_FRAME_LEN + 1).expect("fits u32");
    s1.write_all(&claimed.to_be_bytes())
        .await
        .expect("write prefix");

    let (mut s2, _r2) = conn.open_bi().await.expect("open 2");
    let big = HubMessage::Delta {
        revision: 1,
        upserts: vec![],
        deletes: vec!["x".repeat(4096)],
    };
    frame::write_frame(&mut s2, &big)
        .await
        .expect("write big frame");

    let (mut s3, _r3) = conn.open_bi().await.expect("open 3");
    let whole = frame::encode(&HubMessage::Ping { revision: 7 }).expect("encode");
    s3.write_all(&whole[..whole.len() - 1])
        .await
        .expect("write partial");
    s3.finish().expect("finish");

    let (first, second, third) = within("hub reads", hub_task).await.expect("task");
    assert!(
        matches!(first, Err(FrameError::TooLarge { len, max }) if len == MAX_FRAME_LEN + 1 && max == MAX_FRAME_LEN),
        "{first:?}"
    );
    assert!(
        matches!(second, Err(FrameError::TooLarge { max: 1024, len }) if len > 4096),
        "{second:?}"
    );
    assert!(
        matches!(third, Err(FrameError::Truncated { .. })),
        "{third:?}"
    );
    conn.close(0u32.into(), b"");
}

#[tokio::test]
async fn impostor_presenting_the_real_ca_with_its_own_leaf_is_refused() {
    // The CA certificate is public, so an impostor can put it in its chain; its leaf,
    // signed by its own CA, must still fail verification against the pinned CA.
    let real = CertAuthority::generate("real").expect("real ca");
    let impostor = CertAuthority::generate("impostor").expect("impostor ca");
    let leaf = impostor.issue_server_cert(&[], &[]).expect("impostor leaf");
    let endpoint = quic::server_endpoint(
        "127.0.0.1:0".parse().expect("addr"),
        &real.cert_der,
        &leaf,
        &[7u8; 32],
    )
    .expect("impostor endpoint");
    let addr = endpoint.local_addr().expect("addr");
    let server = endpoint.clone();
    let hub_task = tokio::spawn(async move { accept(&server).await.map(|_| ()) });

    let client = quic::client_endpoint(addr).expect("client endpoint");
    let cfg = quic::join_client_config(&real.ca_hash()).expect("join config");
    let err = within("connect", quic::connect(&client, cfg, addr))
        .await
        .expect_err("leaf not signed by the pinned CA");
    assert!(matches!(err, QuicError::Handshake { .. }), "{err:?}");
    assert!(within("hub side", hub_task).await.expect("task").is_err());
}
