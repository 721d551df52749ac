//! The WebSocket protocol (RFC 6455), server side, as far as `pods/exec` needs it: the
//! handshake's accept key, a frame decoder for what clients send (masked), and an encoder
//! for what the server sends (unmasked, unfragmented).
//!
//! Pure: bytes in, frames out. actix-web hands the upgraded connection's bytes to the
//! handler as the request payload and sends the response body after the `101`; the exec
//! handler glues these to the codec.
//!
//! Design: a client controls the length fields, so the decoder refuses frames and messages
//! larger than [`MAX_MESSAGE`] before buffering them, and buffers at most one frame plus one
//! message.

use base64::Engine;

/// The GUID RFC 6455 appends to the client's key.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest message (and frame) accepted from a client: stdin chunks and resize events are
/// small; kubectl sends at most 32 KiB at once.
pub const MAX_MESSAGE: usize = 1024 * 1024;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut input = key.trim().as_bytes().to_vec();
    input.extend_from_slice(ACCEPT_GUID.as_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Frame opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_u8(b: u8) -> Option<Opcode> {
        Some(match b {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }

    fn to_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0,
            Opcode::Text => 1,
            Opcode::Binary => 2,
            Opcode::Close => 8,
            Opcode::Ping => 9,
            Opcode::Pong => 10,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A complete message from the client (fragments joined).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close,
}

/// What a client did wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("frame or message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: usize },
    #[error("client frames must be masked")]
    Unmasked,
    #[error("unknown opcode {0}")]
    BadOpcode(u8),
    #[error("reserved bits set")]
    Reserved,
    #[error("control frames must be final and at most 125 bytes")]
    BadControl,
    #[error("continuation frame without a message to continue, or a new message inside one")]
    BadFragment,
}

/// Incremental decoder: feed bytes with [`Decoder::push`], take messages with
/// [`Decoder::next_message`].
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// A fragmented data message being assembled: (binary?, bytes so far).
    partial: Option<(bool, Vec<u8>)>,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, WsError> {
        loop {
            let Some((fin, opcode, payload)) = self.next_frame()? else {
                return Ok(None);
            };
            match opcode {
                Opcode::Close => return Ok(Some(Message::Close)),
                Opcode::Ping => return Ok(Some(Message::Ping(payload))),
                Opcode::Pong => return Ok(Some(Message::Pong(payload))),
                Opcode::Text | Opcode::Binary => {
                    if self.partial.is_some() {
                        return Err(WsError::BadFragment);
                    }
                    let binary = opcode == Opcode::Binary;
                    if fin {
                        return Ok(Some(data_message(binary, payload)));
                    }
                    self.partial = Some((binary, payload));
                }
                Opcode::Continuation => {
                    let Some((binary, mut so_far)) = self.partial.take() else {
                        return Err(WsError::BadFragment);
                    };
                    if so_far.len() + payload.len() > MAX_MESSAGE {
                        return Err(WsError::TooLarge {
                            len: (so_far.len() + payload.len()) as u64,
                            max: MAX_MESSAGE,
                        });
                    }
                    so_far.extend_from_slice(&payload);
                    if fin {
                        return Ok(Some(data_message(binary, so_far)));
                    }
                    self.partial = Some((binary, so_far));
                }
            }
        }
    }

    /// One frame off the buffer: (fin, opcode, unmasked payload).
    fn next_frame(&mut self) -> Result<Option<(bool, Opcode, Vec<u8>)>, WsError> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        if b[0] & 0x70 != 0 {
            return Err(WsError::Reserved);
        }
        let opcode = Opcode::from_u8(b[0] & 0x0f).ok_or(WsError::BadOpcode(b[0] & 0x0f))?;
        if b[1] & 0x80 == 0 {
            return Err(WsError::Unmasked);
        }
        let (len, mut at) = match b[1] & 0x7f {
            126 => {
                let Some(l) = b.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([l[0], l[1]])), 4)
            }
            127 => {
                let Some(l) = b.get(2..10) else {
                    return Ok(None);
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(l);
                (u64::from_be_bytes(a), 10)
            }
            n => (u64::from(n), 2),
        };
        if opcode.is_control() && (!fin || len > 125) {
            return Err(WsError::BadControl);
        }
        if len > MAX_MESSAGE as u64 {
            return Err(WsError::TooLarge {
                len,
                max: MAX_MESSAGE,
            });
        }
        let len = len as usize;
        let Some(mask) = b.get(at..at + 4) else {
            return Ok(None);
        };
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        at += 4;
        if b.len() < at + len {
            return Ok(None);
        }
        let payload: Vec<u8> = b[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, x)| x ^ mask[i % 4])
            .collect();
        self.buf.drain(..at + len);
        Ok(Some((fin, opcode, payload)))
    }
}

fn data_message(binary: bool, payload: Vec<u8>) -> Message {
    if binary {
        Message::Binary(payload)
    } else {
        Message::Text(payload)
    }
}

/// One final, unmasked server frame.
pub fn encode(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode.to_u8());
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame with status `code` (1000 = normal).
pub fn close_frame(code: u16) -> Vec<u8> {
    encode(Opcode::Close, &code.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame, masked as clients must.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[test]
    fn accept_key_matches_rfc_6455() {
        // The example of RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn decodes_byte_by_byte_and_joins_fragments() {
        let mut wire = client_frame(true, 2, &[0, b'h', b'i']);
        wire.extend(client_frame(true, 9, b"p"));
        wire.extend(client_frame(false, 2, &[0, 1]));
        wire.extend(client_frame(true, 0, &[2, 3]));
        let big = vec![7u8; 70_000];
        wire.extend(client_frame(true, 2, &big));
        wire.extend(client_frame(true, 8, &1000u16.to_be_bytes()));
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(m) = d.next_message().expect("valid") {
                got.push(m);
            }
        }
        assert_eq!(
            got,
            vec![
                Message::Binary(vec![0, b'h', b'i']),
                Message::Ping(b"p".to_vec()),
                Message::Binary(vec![0, 1, 2, 3]),
                Message::Binary(big),
                Message::Close,
            ]
        );
    }

    #[test]
    fn refuses_what_a_client_must_not_send() {
        let cases: Vec<(Vec<u8>, WsError)> = vec![
            (vec![0x82, 0x01, b'x'], WsError::Unmasked),
            (client_frame(true, 3, b""), WsError::BadOpcode(3)),
            (
                {
                    let mut f = client_frame(true, 2, b"");
                    f[0] |= 0x40;
                    f
                },
                WsError::Reserved,
            ),
            (client_frame(false, 9, b""), WsError::BadControl),
            (client_frame(true, 0, b"x"), WsError::BadFragment),
            (
                vec![0x82, 0xff, 0, 0, 0, 0, 0xff, 0, 0, 0],
                WsError::TooLarge {
                    len: 0xff00_0000,
                    max: MAX_MESSAGE,
                },
            ),
        ];
        for (wire, want) in cases {
            let mut d = Decoder::default();
            d.push(&wire);
            assert_eq!(d.next_message(), Err(want));
        }
    }

    #[test]
    fn encodes_every_length_form() {
        assert_eq!(encode(Opcode::Binary, &[1, 2]), vec![0x82, 2, 1, 2]);
        let mid = encode(Opcode::Binary, &[0; 300]);
        assert_eq!(&mid[..4], &[0x82, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
        let big = encode(Opcode::Binary, &vec![0; 70_000]);
        assert_eq!(&big[..2], &[0x82, 127]);
        assert_eq!(big.len(), 70_010);
        assert_eq!(close_frame(1000), vec![0x88, 2, 0x03, 0xe8]);
    }
}
