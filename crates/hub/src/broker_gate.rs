//! The gate in front of the embedded rumqttd: authentication, client-id binding and
//! per-topic publish/subscribe rules ([`crate::broker_acl`]) for every MQTT connection.
//!
//! Per client connection:
//! 1. The first packet must be a CONNECT (MQTT 3.1.1) within [`CONNECT_TIMEOUT`]. Its
//!    credentials are checked against [`MqttUsers`], its client id and last-will topic
//!    against the user's role; a refusal is a CONNACK with the MQTT return code and a close.
//! 2. The gate opens an in-process link to rumqttd's router for the client id
//!    (`Broker::link`: two shared queues, no socket) and answers CONNACK itself.
//! 3. From then on packets go both ways between the client's socket and the link, except:
//!    - a PUBLISH the role may not make is dropped and logged; QoS 1 gets a PUBACK from the
//!      gate (MQTT 3.1.1 lets a server acknowledge and discard an unauthorized publish),
//!      QoS 2 closes the connection (its handshake cannot be completed honestly);
//!    - a SUBSCRIBE with a filter the role may not use is answered by the gate with a
//!      SUBACK failure (0x80) for every filter and not forwarded.
//!
//! With a TLS listener (`--mqtts-addr`) the same gate serves TLS connections too: the
//! handshake (the hub's server certificate, under the hub CA) comes first, then the same steps.
//!
//! Design: one file descriptor per client. The gate used to open a loopback TCP connection
//! to rumqttd per client, which cost three descriptors per node (client socket, the gate's
//! upstream socket, rumqttd's end) and capped a fleet at about 6,500 nodes under this
//! machine's 20,000-descriptor limit. An in-process link has no socket, so the gate now
//! does the few things rumqttd's network link did:
//! - keep-alive: a client silent for 1.5 x its keep-alive is dropped (a zero keep-alive is
//!   refused, as rumqttd refuses it);
//! - last will: rumqttd's local links carry no will, so when a client goes away without a
//!   DISCONNECT (closed socket, keep-alive, protocol error) the gate publishes its will on
//!   the link (QoS 0, the will's retain flag) and then ends the link; a DISCONNECT ends it
//!   without the will; a newer connection with the same client id (rumqttd drops the older
//!   link) ends the older one without its will, as rumqttd did for persistent sessions;
//! - sessions are clean: CONNACK says `session_present = false`, so a client that asked for
//!   a persistent session subscribes again (the hub's ingest does on every CONNACK). An
//!   embedded broker loses its sessions with the hub process anyway.
//!
//! Bounds: [`MAX_CONNECTIONS`] clients; frames larger than the configured maximum close the
//! connection; packets for the client wait in the router's per-link queue (bounded by its
//! `max_outgoing_packet_count`), so a slow client slows only its own link.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Packet, PubAck, SubAck, SubscribeReasonCode,
};
use rumqttc::mqttbytes::QoS;
use rumqttd::protocol::{v4::V4, Protocol as _};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::broker::MqttUsers;
use crate::broker_acl::{may_publish, may_subscribe, may_use_client_id, Role};

/// Most client connections at once; more are closed right after accept.
pub const MAX_CONNECTIONS: usize = 20_000;
/// Time a client has to send its CONNECT.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Room for topic and headers on top of the largest payload.
pub const PACKET_OVERHEAD: usize = 64 * 1024;

/// What the gate needs.
pub struct GateConfig {
    pub users: MqttUsers,
    /// rumqttd (its router runs on its own thread; links are made per client).
    pub broker: Arc<rumqttd::Broker>,
    /// Largest frame either way.
    pub max_packet: usize,
}

#[derive(Debug, thiserror::Error)]
enum GateError {
    #[error("I/O")]
    Io(#[from] std::io::Error),
    #[error("malformed MQTT packet: {0}")]
    Protocol(rumqttc::mqttbytes::Error),
    #[error("MQTT packet the broker cannot take: {0}")]
    Codec(rumqttd::protocol::Error),
    #[error("no CONNECT within {}s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout,
    #[error("the first packet was not a CONNECT")]
    NotConnect,
    #[error("a second CONNECT")]
    SecondConnect,
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error("unauthorized QoS 2 publish on {topic:?}")]
    DeniedQos2 { topic: String },
    #[error("nothing from the client within 1.5 x its keep-alive ({secs}s)")]
    KeepAlive { secs: u16 },
    #[error("the client closed its connection without DISCONNECT")]
    Closed,
    #[error("the broker refused the link")]
    Link(#[source] rumqttd::local::LinkError),
    #[error("the broker's link task failed")]
    LinkTask(#[source] tokio::task::JoinError),
}

/// Accepts clients until the process ends.
pub async fn serve(listener: TcpListener, cfg: Arc<GateConfig>) {
    serve_with(
        listener,
        None,
        cfg,
        Arc::new(Semaphore::new(MAX_CONNECTIONS)),
    )
    .await
}

/// Serves `listener`, over TLS with `tls`; `slots` bounds the connections of every listener
/// of one gate together. The TLS handshake counts against [`CONNECT_TIMEOUT`].
pub async fn serve_with(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cfg: Arc<GateConfig>,
    slots: Arc<Semaphore>,
) {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "MQTT accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "MQTT connection limit reached; closing a new connection");
            continue;
        };
        let cfg = cfg.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = sock.set_nodelay(true);
            let result = match tls {
                None => handle(sock, &cfg).await,
                Some(acceptor) => {
                    match tokio::time::timeout(CONNECT_TIMEOUT, acceptor.accept(sock)).await {
                        Ok(Ok(stream)) => handle(stream, &cfg).await,
                        Ok(Err(e)) => Err(GateError::Io(e)),
                        Err(_) => Err(GateError::ConnectTimeout),
                    }
                }
            };
            if let Err(e) = result {
                match e {
                    GateError::Io(_) | GateError::Closed => {
                        tracing::debug!(%peer, error = %e, "MQTT client gone")
                    }
                    e => tracing::warn!(%peer, error = %e, "MQTT connection closed by the gate"),
                }
            }
        });
    }
}

/// Reads one whole frame (`None` at a clean end of stream). Cancel-safe: bytes read so far
/// stay in `buf`.
async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<BytesMut>, GateError> {
    loop {
        match rumqttc::mqttbytes::check(buf.iter(), max) {
            Ok(h) => return Ok(Some(buf.split_to(h.frame_length()))),
            Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(GateError::Protocol(e)),
        }
        if r.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

fn encode(p: Packet, max: usize) -> Result<Bytes, GateError> {
    let mut out = BytesMut::new();
    p.write(&mut out, max).map_err(GateError::Protocol)?;
    Ok(out.freeze())
}

async fn refuse<S: AsyncWrite + Unpin>(
    client: &mut S,
    code: ConnectReturnCode,
    why: &'static str,
) -> GateError {
    let mut out = BytesMut::new();
    if Packet::ConnAck(ConnAck::new(code, false))
        .write(&mut out, 16)
        .is_ok()
    {
        let _ = client.write_all(&out).await;
    }
    GateError::Refused(why)
}

/// How a client's connection ended, which decides what the link is told.
enum End {
    /// DISCONNECT from the client: end the link, no will.
    Clean,
    /// The link was ended by rumqttd (a newer connection took the client id over): nothing
    /// more to tell it.
    TakenOver,
    /// Anything else: publish the will, then end the link.
    Lost(GateError),
}

async fn handle<S>(mut client: S, cfg: &GateConfig) -> Result<(), GateError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max = cfg.max_packet;
    let mut cbuf = BytesMut::with_capacity(1024);
    let first = tokio::time::timeout(CONNECT_TIMEOUT, read_frame(&mut client, &mut cbuf, max))
        .await
        .map_err(|_| GateError::ConnectTimeout)??;
    let Some(mut first) = first else {
        return Ok(());
    };
    let connect = match Packet::read(&mut first, max).map_err(GateError::Protocol)? {
        Packet::Connect(c) => c,
        _ => return Err(GateError::NotConnect),
    };
    let role = connect
        .login
        .as_ref()
        .and_then(|l| cfg.users.authenticate(&l.username, &l.password));
    let Some(role) = role else {
        return Err(refuse(
            &mut client,
            ConnectReturnCode::BadUserNamePassword,
            "unknown user or wrong password",
        )
        .await);
    };
    let user = connect
        .login
        .as_ref()
        .map(|l| l.username.clone())
        .unwrap_or_default();
    if !may_use_client_id(&role, &connect.client_id) {
        tracing::warn!(%user, client_id = %connect.client_id, "MQTT client id not allowed for this user");
        return Err(refuse(
            &mut client,
            ConnectReturnCode::BadClientId,
            "client id not allowed for this user",
        )
        .await);
    }
    if let Some(will) = &connect.last_will {
        if !may_publish(&role, &will.topic) {
            tracing::warn!(%user, topic = %will.topic, "MQTT last will on a topic the user may not publish");
            return Err(refuse(
                &mut client,
                ConnectReturnCode::NotAuthorized,
                "last will on a topic the user may not publish",
            )
            .await);
        }
    }
    if connect.keep_alive == 0 {
        return Err(refuse(
            &mut client,
            ConnectReturnCode::ServiceUnavailable,
            "a keep-alive of 0 (the broker needs to notice dead clients)",
        )
        .await);
    }
    let client_id = if connect.client_id.is_empty() {
        if !connect.clean_session {
            return Err(refuse(
                &mut client,
                ConnectReturnCode::BadClientId,
                "a persistent session needs a client id",
            )
            .await);
        }
        format!("shoal-gate-{}", crate::bootstrap::random_secret(16))
    } else {
        connect.client_id.clone()
    };
    // `link` waits for the router's answer on a blocking channel: not on this thread.
    let broker = cfg.broker.clone();
    let id = client_id.clone();
    let (mut link_tx, mut link_rx) = tokio::task::spawn_blocking(move || broker.link(&id))
        .await
        .map_err(GateError::LinkTask)?
        .map_err(GateError::Link)?;
    client
        .write_all(&encode(
            Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false)),
            max,
        )?)
        .await?;

    let secs = connect.keep_alive;
    let idle = Duration::from_millis(u64::from(secs) * 1500);
    let mut deadline = tokio::time::Instant::now() + idle;
    let mut out = BytesMut::new();
    let (mut cr, mut cw) = tokio::io::split(client);
    let end = loop {
        tokio::select! {
            frame = tokio::time::timeout_at(deadline, read_frame(&mut cr, &mut cbuf, max)) => {
                let frame = match frame {
                    Err(_) => break End::Lost(GateError::KeepAlive { secs }),
                    Ok(Err(e)) => break End::Lost(e),
                    Ok(Ok(None)) => break End::Lost(GateError::Closed),
                    Ok(Ok(Some(f))) => f,
                };
                deadline = tokio::time::Instant::now() + idle;
                match inspect(&role, &user, frame, max) {
                    Err(e) => break End::Lost(e),
                    Ok(Verdict::Forward(raw)) => {
                        let mut raw = BytesMut::from(&raw[..]);
                        let packet = match V4.read_mut(&mut raw, max) {
                            Ok(p) => p,
                            Err(e) => break End::Lost(GateError::Codec(e)),
                        };
                        if matches!(packet, rumqttd::protocol::Packet::Disconnect(..)) {
                            break End::Clean;
                        }
                        if link_tx.send(packet).await.is_err() {
                            break End::TakenOver;
                        }
                    }
                    Ok(Verdict::Reply(r)) => {
                        if let Err(e) = cw.write_all(&r).await {
                            break End::Lost(e.into());
                        }
                    }
                    Ok(Verdict::Drop) => {}
                }
            }
            note = link_rx.next() => match note {
                Ok(Some(note)) => match Option::<rumqttd::protocol::Packet>::from(note) {
                    Some(packet) => {
                        out.clear();
                        if let Err(e) = V4.write(packet, &mut out) {
                            break End::Lost(GateError::Codec(e));
                        }
                        if let Err(e) = cw.write_all(&out).await {
                            break End::Lost(e.into());
                        }
                    }
                    // The router paused this link (its queue was full); ask for more.
                    None => {
                        if link_rx.wake().await.is_err() {
                            break End::TakenOver;
                        }
                    }
                },
                Ok(None) => {}
                Err(_) => break End::TakenOver,
            }
        }
    };
    let disconnect = rumqttd::protocol::Packet::Disconnect(
        rumqttd::protocol::Disconnect {
            reason_code: rumqttd::protocol::DisconnectReasonCode::NormalDisconnection,
        },
        None,
    );
    match end {
        End::Clean => {
            let _ = link_tx.send(disconnect).await;
            Ok(())
        }
        End::TakenOver => Ok(()),
        End::Lost(e) => {
            if let Some(will) = connect.last_will {
                let publish = rumqttd::protocol::Publish::new(
                    Bytes::from(will.topic.into_bytes()),
                    will.message,
                    will.retain,
                );
                let _ = link_tx
                    .send(rumqttd::protocol::Packet::Publish(publish, None))
                    .await;
            }
            let _ = link_tx.send(disconnect).await;
            Err(e)
        }
    }
}

enum Verdict {
    Forward(Bytes),
    Reply(Bytes),
    Drop,
}

/// Decides what to do with one frame from the client.
fn inspect(role: &Role, user: &str, frame: BytesMut, max: usize) -> Result<Verdict, GateError> {
    let kind = frame.first().map(|b| b >> 4).unwrap_or(0);
    match kind {
        // PUBLISH
        3 => {
            let raw = frame.clone().freeze();
            let mut f = frame;
            let Packet::Publish(p) = Packet::read(&mut f, max).map_err(GateError::Protocol)? else {
                return Err(GateError::Protocol(
                    rumqttc::mqttbytes::Error::IncorrectPacketFormat,
                ));
            };
            if may_publish(role, &p.topic) {
                return Ok(Verdict::Forward(raw));
            }
            tracing::warn!(%user, topic = %p.topic, "refused an MQTT publish outside the user's topics");
            match p.qos {
                QoS::AtMostOnce => Ok(Verdict::Drop),
                QoS::AtLeastOnce => Ok(Verdict::Reply(encode(
                    Packet::PubAck(PubAck::new(p.pkid)),
                    max,
                )?)),
                QoS::ExactlyOnce => Err(GateError::DeniedQos2 { topic: p.topic }),
            }
        }
        // SUBSCRIBE
        8 => {
            let raw = frame.clone().freeze();
            let mut f = frame;
            let Packet::Subscribe(s) = Packet::read(&mut f, max).map_err(GateError::Protocol)?
            else {
                return Err(GateError::Protocol(
                    rumqttc::mqttbytes::Error::IncorrectPacketFormat,
                ));
            };
            if s.filters.iter().all(|f| may_subscribe(role, &f.path)) {
                return Ok(Verdict::Forward(raw));
            }
            let filters: Vec<&str> = s.filters.iter().map(|f| f.path.as_str()).collect();
            tracing::warn!(%user, ?filters, "refused an MQTT subscription outside the user's topics");
            let codes = vec![SubscribeReasonCode::Failure; s.filters.len()];
            Ok(Verdict::Reply(encode(
                Packet::SubAck(SubAck::new(s.pkid, codes)),
                max,
            )?))
        }
        // CONNECT again
        1 => Err(GateError::SecondConnect),
        _ => Ok(Verdict::Forward(frame.freeze())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::v4::{Publish, Subscribe};

    fn frame(p: Packet) -> BytesMut {
        let mut out = BytesMut::new();
        p.write(&mut out, 1 << 20).expect("encode");
        out
    }

    fn publish(topic: &str, qos: QoS) -> BytesMut {
        let mut p = Publish::new(topic, qos, b"{}".to_vec());
        p.pkid = if qos == QoS::AtMostOnce { 0 } else { 7 };
        frame(Packet::Publish(p))
    }

    #[test]
    fn own_topics_pass_others_are_acked_and_dropped() {
        let node = Role::Node("a".into());
        let ok = publish("shoal/v1/nodes/a/status", QoS::AtLeastOnce);
        assert!(matches!(
            inspect(&node, "node-a", ok.clone(), 1 << 20),
            Ok(Verdict::Forward(f)) if f == ok.freeze()
        ));
        let forged = publish("shoal/v1/nodes/b/status", QoS::AtLeastOnce);
        match inspect(&node, "node-a", forged, 1 << 20) {
            Ok(Verdict::Reply(r)) => {
                let mut r = BytesMut::from(&r[..]);
                assert_eq!(
                    Packet::read(&mut r, 1 << 20).expect("puback"),
                    Packet::PubAck(PubAck::new(7))
                );
            }
            _ => panic!("a forged QoS 1 publish is acknowledged and dropped"),
        }
        assert!(matches!(
            inspect(
                &node,
                "node-a",
                publish("shoal/v1/nodes/b/status", QoS::AtMostOnce),
                1 << 20
            ),
            Ok(Verdict::Drop)
        ));
        assert!(matches!(
            inspect(
                &node,
                "node-a",
                publish("shoal/v1/nodes/b/status", QoS::ExactlyOnce),
                1 << 20
            ),
            Err(GateError::DeniedQos2 { .. })
        ));
        assert!(matches!(
            inspect(
                &Role::Reader,
                "r",
                publish("shoal/v1/nodes/a/status", QoS::AtMostOnce),
                1 << 20
            ),
            Ok(Verdict::Drop)
        ));
    }

    #[test]
    fn subscriptions_outside_the_role_fail_as_a_whole() {
        let node = Role::Node("a".into());
        let mut s = Subscribe::new("shoal/v1/nodes/a/#", QoS::AtLeastOnce);
        s.pkid = 3;
        assert!(matches!(
            inspect(
                &node,
                "node-a",
                frame(Packet::Subscribe(s.clone())),
                1 << 20
            ),
            Ok(Verdict::Forward(_))
        ));
        s.filters.push(rumqttc::mqttbytes::v4::SubscribeFilter::new(
            "shoal/v1/nodes/#".into(),
            QoS::AtLeastOnce,
        ));
        match inspect(
            &node,
            "node-a",
            frame(Packet::Subscribe(s.clone())),
            1 << 20,
        ) {
            Ok(Verdict::Reply(r)) => {
                let mut r = BytesMut::from(&r[..]);
                assert_eq!(
                    Packet::read(&mut r, 1 << 20).expect("suback"),
                    Packet::SubAck(SubAck::new(
                        3,
                        vec![SubscribeReasonCode::Failure, SubscribeReasonCode::Failure]
                    ))
                );
            }
            _ => panic!("refused"),
        }
        assert!(matches!(
            inspect(&Role::Reader, "r", frame(Packet::Subscribe(s)), 1 << 20),
            Ok(Verdict::Forward(_))
        ));
    }

    #[test]
    fn other_packets_pass_and_a_second_connect_ends_it() {
        let ping = frame(Packet::PingReq);
        assert!(matches!(
            inspect(&Role::Reader, "r", ping, 1 << 20),
            Ok(Verdict::Forward(_))
        ));
        let connect = frame(Packet::Connect(rumqttc::mqttbytes::v4::Connect::new("x")));
        assert!(matches!(
            inspect(&Role::Reader, "r", connect, 1 << 20),
            Err(GateError::SecondConnect)
        ));
    }
}
