//! Length-prefixed, versioned, size-limited bincode frames: the only way bytes become
//! [`wire`](crate::wire) messages and back.
//!
//! ```text
//! +-------------------+-----------------------+------------------------------+
//! | u32 BE length (n) | u8 PROTOCOL_VERSION   | bincode payload (n - 1 bytes) |
//! +-------------------+-----------------------+------------------------------+
//! ```
//!
//! `length` counts everything after itself (version byte + payload), so a reader knows how
//! much to read before it allocates anything. The pure [`encode`]/[`decode`] pair is the
//! codec; [`write_frame`]/[`read_frame`] only move its bytes over a quinn stream.
//!
//! Design: a peer controls the length prefix, so [`read_frame`] checks it against the limit
//! *before* allocating the body, and [`decode`] runs bincode with a byte limit and refuses
//! trailing bytes. Nothing here panics on input from the network.

use serde::{de::DeserializeOwned, Serialize};

use crate::wire::PROTOCOL_VERSION;

/// Largest frame body (version byte + payload) anyone sends or accepts: 16 MiB.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Size of the length prefix in bytes.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// bincode configuration for everything on the wire. The limit bounds what a decoder may
/// allocate for a claimed length; it does not change the encoding.
fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_LEN>()
}

/// Errors of the frame codec and of reading/writing frames on a stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("frame has protocol version {got}, this build speaks version {expected}; upgrade the older side")]
    WrongVersion { got: u8, expected: u8 },
    #[error("frame is empty: it has no protocol version byte")]
    Empty,
    #[error("stream ended inside a frame: expected {expected} bytes, got {got}")]
    Truncated { expected: usize, got: usize },
    #[error("frame payload has {extra} trailing bytes after the message")]
    TrailingBytes { extra: usize },
    #[error("frame payload does not decode as the expected message")]
    Decode {
        #[source]
        source: bincode::error::DecodeError,
    },
    #[error("message does not encode")]
    Encode {
        #[source]
        source: bincode::error::EncodeError,
    },
    #[error("reading a frame from the stream failed")]
    Read {
        #[source]
        source: quinn::ReadError,
    },
    #[error("writing a frame to the stream failed")]
    Write {
        #[source]
        source: quinn::WriteError,
    },
}

/// Encodes `msg` as a complete frame (length prefix included), ready to write.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let payload = bincode::serde::encode_to_vec(msg, bincode_config())
        .map_err(|source| FrameError::Encode { source })?;
    let body_len = payload.len() + 1;
    let too_large = FrameError::TooLarge {
        len: body_len,
        max: MAX_FRAME_LEN,
    };
    if body_len > MAX_FRAME_LEN {
        return Err(too_large);
    }
    // MAX_FRAME_LEN < u32::MAX, so this cannot fail once the check above passed.
    let prefix = u32::try_from(body_len).map_err(|_| too_large)?;
    let mut frame = Vec::with_capacity(LENGTH_PREFIX_LEN + body_len);
    frame.extend_from_slice(&prefix.to_be_bytes());
    frame.push(PROTOCOL_VERSION);
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// Decodes a frame body (everything after the length prefix: version byte + payload).
pub fn decode<T: DeserializeOwned>(frame_body: &[u8]) -> Result<T, FrameError> {
    if frame_body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: frame_body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let (&version, payload) = frame_body.split_first().ok_or(FrameError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::WrongVersion {
            got: version,
            expected: PROTOCOL_VERSION,
        });
    }
    let (msg, used) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|source| FrameError::Decode { source })?;
    if used != payload.len() {
        return Err(FrameError::TrailingBytes {
            extra: payload.len().saturating_sub(used),
        });
    }
    Ok(msg)
}

/// Checks a frame's length prefix against `max_len` (itself capped at [`MAX_FRAME_LEN`]) and
/// returns the body length to read. The pure half of [`read_frame`].
pub fn check_length(prefix: [u8; LENGTH_PREFIX_LEN], max_len: usize) -> Result<usize, FrameError> {
    let max = max_len.min(MAX_FRAME_LEN);
    let len = u32::from_be_bytes(prefix) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    Ok(len)
}

/// Writes one frame carrying `msg`. Does not finish the stream: a stream carries many frames.
pub async fn write_frame<T: Serialize>(
    send: &mut quinn::SendStream,
    msg: &T,
) -> Result<(), FrameError> {
    let frame = encode(msg)?;
    send.write_all(&frame)
        .await
        .map_err(|source| FrameError::Write { source })
}

/// Reads one frame and decodes it. `Ok(None)` when the peer finished the stream cleanly
/// between frames. `max_len` bounds the frame body and is itself capped at
/// [`MAX_FRAME_LEN`]; a longer frame fails with [`FrameError::TooLarge`] before its body is
/// read or allocated.
///
/// Not cancel-safe: dropping the future mid-frame loses the bytes already read and leaves
/// the stream misaligned. Run it in a task of its own rather than as a `select!` branch that
/// another branch can win.
pub async fn read_frame<T: DeserializeOwned>(
    recv: &mut quinn::RecvStream,
    max_len: usize,
) -> Result<Option<T>, FrameError> {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(got)) => {
            return Err(FrameError::Truncated {
                expected: LENGTH_PREFIX_LEN,
                got,
            })
        }
        Err(quinn::ReadExactError::ReadError(source)) => return Err(FrameError::Read { source }),
    }
    let len = check_length(prefix, max_len)?;
    let mut body = vec![0u8; len];
    match recv.read_exact(&mut body).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(got)) => {
            return Err(FrameError::Truncated { expected: len, got })
        }
        Err(quinn::ReadExactError::ReadError(source)) => return Err(FrameError::Read { source }),
    }
    decode(&body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::*;
    use rand::{Rng, RngCore, SeedableRng};

    fn body(frame: &[u8]) -> &[u8] {
        &frame[LENGTH_PREFIX_LEN..]
    }

    fn sample_plan() -> PodPlan {
        PodPlan {
            uid: "0b6f6c1e-uid".into(),
            namespace: "default".into(),
            name: "web-1".into(),
            revision: 42,
            labels: vec![("app".into(), "web".into())],
            annotations: vec![("a".into(), "b".into())],
            restart_policy: RestartPolicy::OnFailure,
            termination_grace_period_seconds: 30,
            runtime_class: "process".into(),
            hostname: "web-1".into(),
            host_network: true,
            init_containers: vec![ContainerPlan {
                name: "init".into(),
                image: "localhost/busybox:latest".into(),
                command: vec!["true".into()],
                ..Default::default()
            }],
            containers: vec![ContainerPlan {
                name: "web".into(),
                image: "localhost/busybox:latest".into(),
                image_pull_policy: PullPolicy::Never,
                command: vec!["httpd".into()],
                args: vec!["-f".into(), "-p".into(), "8080".into()],
                working_dir: "/srv".into(),
                env: vec![("A".into(), "1".into())],
                ports: vec![PortPlan {
                    name: "http".into(),
                    container_port: 8080,
                    host_port: 30080,
                    host_ip: "127.0.0.2".into(),
                    protocol: "TCP".into(),
                }],
                volume_mounts: vec![MountPlan {
                    name: "data".into(),
                    mount_path: "/data".into(),
                    read_only: false,
                    sub_path: String::new(),
                }],
                cpu_limit_millis: 500,
                memory_limit_bytes: 64 << 20,
                config_error: String::new(),
                liveness_probe: Some(crate::wire::ProbePlan {
                    action: crate::wire::ProbeAction::HttpGet {
                        scheme: "HTTP".into(),
                        host: String::new(),
                        port: 8080,
                        path: "/healthz".into(),
                        headers: vec![("X-A".into(), "b".into())],
                    },
                    initial_delay_seconds: 1,
                    period_seconds: 10,
                    timeout_seconds: 1,
                    success_threshold: 1,
                    failure_threshold: 3,
                }),
                readiness_probe: None,
                startup_probe: None,
            }],
            volumes: vec![
                VolumePlan::EmptyDir {
                    name: "data".into(),
                    medium_memory: true,
                },
                VolumePlan::HostPath {
                    name: "etc".into(),
                    path: "/etc".into(),
                    kind: "Directory".into(),
                },
            ],
            deletion_grace_period_seconds: Some(5),
            enable_service_links: true,
            dns_policy: "ClusterFirst".into(),
            dns_servers: vec!["10.88.0.1".into()],
            dns_search: vec!["default.svc.cluster.local".into()],
            dns_options: vec!["ndots:5".into()],
        }
    }

    fn round_trip<T>(msg: &T)
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let frame = encode(msg).expect("encodes");
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(
            len,
            frame.len() - LENGTH_PREFIX_LEN,
            "prefix counts the body"
        );
        assert_eq!(frame[LENGTH_PREFIX_LEN], PROTOCOL_VERSION);
        let back: T = decode(body(&frame)).expect("decodes");
        assert_eq!(&back, msg);
    }

    #[test]
    fn every_wire_message_round_trips() {
        round_trip(&JoinRequest {
            token_secret: "s3cr3t".into(),
            node_name: "edge-1".into(),
            csr_pem: "-----BEGIN CERTIFICATE REQUEST-----\n...".into(),
        });
        round_trip(&JoinResponse::Accepted(JoinAccepted {
            node_cert_pem: "cert".into(),
            ca_cert_pem: "ca".into(),
            mqtt: MqttCredentials {
                url: "mqtt://:1883".into(),
                username: "edge-1".into(),
                password: "pw".into(),
                ca_pem: "-----BEGIN CERTIFICATE-----\n...".into(),
            },
        }));
        round_trip(&JoinResponse::Rejected(
            "join token is invalid or expired".into(),
        ));
        round_trip(&AgentHello {
            node: NodeInfo {
                node_name: "edge-1".into(),
                labels: vec![("zone".into(), "a".into())],
                node_ip: "127.0.0.2".into(),
                runtimes: vec!["process".into(), "simulated".into()],
                capacity: vec![("cpu".into(), "2".into())],
                ..Default::default()
            },
            last_acked_revision: 7,
        });
        round_trip(&HubMessage::Snapshot {
            revision: 9,
            pods: vec![sample_plan(), PodPlan::default()],
        });
        round_trip(&HubMessage::Delta {
            revision: 10,
            upserts: vec![sample_plan()],
            deletes: vec!["gone-uid".into()],
        });
        round_trip(&HubMessage::Ping { revision: 11 });
        round_trip(&AgentMessage::Ack { revision: 11 });
        round_trip(&sample_plan());
    }

    #[test]
    fn wrong_version_is_refused() {
        let mut frame = encode(&AgentMessage::Ack { revision: 1 }).expect("encodes");
        frame[LENGTH_PREFIX_LEN] = PROTOCOL_VERSION.wrapping_add(1);
        let err = decode::<AgentMessage>(body(&frame)).expect_err("must refuse");
        assert!(
            matches!(err, FrameError::WrongVersion { got, expected }
                if got == PROTOCOL_VERSION.wrapping_add(1) && expected == PROTOCOL_VERSION),
            "{err:?}"
        );
    }

    #[test]
    fn oversize_length_is_rejected_before_allocating() {
        let prefix = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
        let err = check_length(prefix, MAX_FRAME_LEN).expect_err("too large");
        assert!(matches!(err, FrameError::TooLarge { len, max }
            if len == MAX_FRAME_LEN + 1 && max == MAX_FRAME_LEN));
        // A caller's smaller limit wins; a larger one is capped at MAX_FRAME_LEN.
        let err = check_length(100u32.to_be_bytes(), 10).expect_err("over caller limit");
        assert!(matches!(err, FrameError::TooLarge { len: 100, max: 10 }));
        let err = check_length(u32::MAX.to_be_bytes(), usize::MAX).expect_err("capped");
        assert!(matches!(
            err,
            FrameError::TooLarge {
                max: MAX_FRAME_LEN,
                ..
            }
        ));
        assert_eq!(check_length(5u32.to_be_bytes(), 10).expect("fits"), 5);
        assert!(matches!(check_length([0; 4], 10), Err(FrameError::Empty)));
    }

    #[test]
    fn oversize_body_is_rejected_by_decode_and_encode() {
        let huge = vec![PROTOCOL_VERSION; MAX_FRAME_LEN + 1];
        assert!(matches!(
            decode::<AgentMessage>(&huge),
            Err(FrameError::TooLarge { .. })
        ));
        let big = HubMessage::Delta {
            revision: 1,
            upserts: vec![],
            deletes: vec!["x".repeat(MAX_FRAME_LEN)],
        };
        assert!(matches!(encode(&big), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(matches!(
            decode::<AgentMessage>(&[]),
            Err(FrameError::Empty)
        ));
        // Enum variant index out of range.
        assert!(matches!(
            decode::<AgentMessage>(&[PROTOCOL_VERSION, 9, 1]),
            Err(FrameError::Decode { .. })
        ));
        // Trailing bytes after a complete message.
        let frame = encode(&AgentMessage::Ack { revision: 3 }).expect("encodes");
        let mut long = body(&frame).to_vec();
        long.push(0);
        assert!(matches!(
            decode::<AgentMessage>(&long),
            Err(FrameError::TrailingBytes { extra: 1 })
        ));
        // Every proper prefix of a real frame fails cleanly.
        let frame = encode(&HubMessage::Snapshot {
            revision: 1,
            pods: vec![sample_plan()],
        })
        .expect("encodes");
        let b = body(&frame);
        for cut in 0..b.len() {
            assert!(decode::<HubMessage>(&b[..cut]).is_err(), "cut at {cut}");
        }
        // A string claiming far more bytes than the frame holds.
        let mut lying = vec![PROTOCOL_VERSION, 0];
        lying.push(252); // bincode varint: u32 follows
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode::<JoinResponse>(&lying).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5a0a1);
        let mut buf = vec![0u8; 512];
        for i in 0..20_000 {
            let len = rng.gen_range(0..buf.len());
            rng.fill_bytes(&mut buf[..len]);
            if i % 2 == 0 && len > 0 {
                buf[0] = PROTOCOL_VERSION;
            }
            let b = &buf[..len];
            let _ = decode::<HubMessage>(b);
            let _ = decode::<AgentMessage>(b);
            let _ = decode::<JoinRequest>(b);
            let _ = decode::<JoinResponse>(b);
            let _ = decode::<AgentHello>(b);
        }
        // Mutating a valid frame must not panic either, and must decode or fail cleanly.
        let frame = encode(&HubMessage::Snapshot {
            revision: 1,
            pods: vec![sample_plan()],
        })
        .expect("encodes");
        let mut decoded_ok = 0;
        for _ in 0..5_000 {
            let mut b = body(&frame).to_vec();
            let at = rng.gen_range(1..b.len());
            b[at] = rng.gen();
            if decode::<HubMessage>(&b).is_ok() {
                decoded_ok += 1;
            }
        }
        assert!(decoded_ok < 5_000, "some mutations must be detected");
    }

    #[test]
    fn stream_messages_round_trip_and_garbage_is_an_error() {
        let pod = PodRef {
            uid: "u-1".into(),
            namespace: "default".into(),
            name: "web".into(),
        };
        let logs = StreamRequest::Logs(LogsRequest {
            pod: pod.clone(),
            container: "c".into(),
            follow: true,
            tail_lines: Some(10),
            since_ms: None,
            previous: false,
            timestamps: true,
            limit_bytes: Some(1 << 20),
        });
        round_trip(&logs);
        round_trip(&StreamRequest::Exec(ExecRequest {
            pod,
            container: "c".into(),
            command: vec!["sh".into(), "-c".into(), "echo hi".into()],
            stdin: true,
            stdout: true,
            stderr: false,
            tty: false,
        }));
        round_trip(&StreamReply::Ready);
        round_trip(&StreamReply::Failed(StreamFailure {
            kind: StreamFailureKind::NotFound,
            message: "no container".into(),
        }));
        round_trip(&ExecOutput::Stdout(vec![0, 1, 255]));
        round_trip(&ExecOutput::Stderr(b"oops".to_vec()));
        round_trip(&ExecOutput::Exit {
            code: -1,
            message: String::new(),
        });
        round_trip(&ExecInput::Stdin(vec![7; MAX_STREAM_CHUNK]));
        round_trip(&ExecInput::CloseStdin);
        round_trip(&ExecInput::Resize {
            width: 80,
            height: 24,
        });
        // A chunk of the largest size fits the stream frame limit.
        let big = encode(&ExecOutput::Stdout(vec![0xff; MAX_STREAM_CHUNK])).expect("encodes");
        assert!(check_length(
            big[..LENGTH_PREFIX_LEN].try_into().expect("4 bytes"),
            MAX_STREAM_FRAME
        )
        .is_ok());
        // Garbled frames from an agent are errors, never panics.
        let frame = encode(&logs).expect("encodes");
        assert!(decode::<StreamReply>(&[PROTOCOL_VERSION, 9, 9, 9]).is_err());
        assert!(decode::<ExecOutput>(&body(&frame)[..body(&frame).len() - 3]).is_err());
        assert!(decode::<StreamReply>(&[PROTOCOL_VERSION]).is_err());
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2_000 {
            let mut b = body(&frame).to_vec();
            let at = rng.gen_range(1..b.len());
            b[at] = rng.gen();
            let _ = decode::<StreamRequest>(&b);
            let _ = decode::<ExecOutput>(&b);
            let _ = decode::<ExecInput>(&b);
        }
    }
}
