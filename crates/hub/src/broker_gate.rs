//! The gate in front of the embedded rumqttd: authentication, client-id binding and
//! per-topic publish/subscribe rules ([`crate::broker_acl`]) for every MQTT connection.
//!
//! Per client connection:
//! 1. The first packet must be a CONNECT (MQTT 3.1.1) within [`CONNECT_TIMEOUT`]. Its
//!    credentials are checked against [`MqttUsers`], its client id and last-will topic
//!    against the user's role; a refusal is a CONNACK with the MQTT return code and a close.
//! 2. The gate opens one loopback connection to rumqttd and forwards the CONNECT with the
//!    gate's own credentials in place of the client's.
//! 3. From then on frames are forwarded as they are, except:
//!    - a PUBLISH the role may not make is dropped and logged; QoS 1 gets a PUBACK from the
//!      gate (MQTT 3.1.1 lets a server acknowledge and discard an unauthorized publish),
//!      QoS 2 closes the connection (its handshake cannot be completed honestly);
//!    - a SUBSCRIBE with a filter the role may not use is answered by the gate with a
//!      SUBACK failure (0x80) for every filter and not forwarded.
//!
//! With a TLS listener (`--mqtts-addr`) the same gate serves TLS connections too: the
//! handshake (the hub's server certificate, under the hub CA) comes first, then the same steps.
//!
//! Either side closing closes the other: a client that dies makes rumqttd see the
//! connection end without a DISCONNECT, so its last will fires at once.
//!
//! Bounds: [`MAX_CONNECTIONS`] clients; frames larger than the configured maximum close the
//! connection; frames for the client go through a queue of [`CLIENT_QUEUE`] frames, so a
//! slow client slows its own rumqttd connection down, not the gate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{
    ConnAck, ConnectReturnCode, Login, Packet, PubAck, SubAck, SubscribeReasonCode,
};
use rumqttc::mqttbytes::QoS;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use crate::broker::MqttUsers;
use crate::broker_acl::{may_publish, may_subscribe, may_use_client_id, Role};

/// Most client connections at once; more are closed right after accept.
pub const MAX_CONNECTIONS: usize = 20_000;
/// Time a client has to send its CONNECT.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames queued towards one client.
pub const CLIENT_QUEUE: usize = 64;
/// Room for topic and headers on top of the largest payload.
pub const PACKET_OVERHEAD: usize = 64 * 1024;

/// What the gate needs.
pub struct GateConfig {
    pub users: MqttUsers,
    /// rumqttd's private address.
    pub upstream: SocketAddr,
    /// Credentials rumqttd accepts (only the gate knows them).
    pub upstream_user: String,
    pub upstream_pass: String,
    /// Largest frame either way.
    pub max_packet: usize,
}

#[derive(Debug, thiserror::Error)]
enum GateError {
    #[error("I/O")]
    Io(#[from] std::io::Error),
    #[error("malformed MQTT packet: {0}")]
    Protocol(rumqttc::mqttbytes::Error),
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
    #[error("cannot reach the broker behind the gate")]
    Upstream(#[source] std::io::Error),
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
                    GateError::Io(_) => tracing::debug!(%peer, error = %e, "MQTT client gone"),
                    e => tracing::warn!(%peer, error = %e, "MQTT connection closed by the gate"),
                }
            }
        });
    }
}

/// Reads one whole frame (`None` at a clean end of stream).
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

async fn handle<S>(mut client: S, cfg: &GateConfig) -> Result<(), GateError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max = cfg.max_packet;
    let mut cbuf = BytesMut::with_capacity(4096);
    let first = tokio::time::timeout(CONNECT_TIMEOUT, read_frame(&mut client, &mut cbuf, max))
        .await
        .map_err(|_| GateError::ConnectTimeout)??;
    let Some(mut first) = first else {
        return Ok(());
    };
    let mut connect = match Packet::read(&mut first, max).map_err(GateError::Protocol)? {
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
    connect.login = Some(Login {
        username: cfg.upstream_user.clone(),
        password: cfg.upstream_pass.clone(),
    });
    let mut upstream = TcpStream::connect(cfg.upstream)
        .await
        .map_err(GateError::Upstream)?;
    let _ = upstream.set_nodelay(true);
    upstream
        .write_all(&encode(Packet::Connect(connect), max)?)
        .await?;

    let (mut ur, mut uw) = upstream.into_split();
    let (mut cr, mut cw) = tokio::io::split(client);
    let (to_client, mut client_rx) = mpsc::channel::<Bytes>(CLIENT_QUEUE);

    let writer = async move {
        while let Some(frame) = client_rx.recv().await {
            cw.write_all(&frame).await?;
        }
        Ok::<(), GateError>(())
    };
    let down_tx = to_client.clone();
    let downstream = async move {
        let mut buf = BytesMut::with_capacity(4096);
        while let Some(frame) = read_frame(&mut ur, &mut buf, max).await? {
            if down_tx.send(frame.freeze()).await.is_err() {
                break;
            }
        }
        Ok::<(), GateError>(())
    };
    let upstream_loop = async move {
        while let Some(frame) = read_frame(&mut cr, &mut cbuf, max).await? {
            match inspect(&role, &user, frame, max)? {
                Verdict::Forward(f) => uw.write_all(&f).await?,
                Verdict::Reply(r) => {
                    if to_client.send(r).await.is_err() {
                        break;
                    }
                }
                Verdict::Drop => {}
            }
        }
        Ok::<(), GateError>(())
    };
    // Whichever side ends first ends the connection; dropping the halves closes both sockets.
    tokio::select! {
        r = writer => r,
        r = downstream => r,
        r = upstream_loop => r,
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
