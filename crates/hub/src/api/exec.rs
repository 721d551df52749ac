//! `.../pods/{name}/exec` over WebSocket: kubectl 1.30 and newer (and other clients of the
//! `v5.channel.k8s.io` / `v4.channel.k8s.io` subprotocols) run a command in a container of a
//! pod on an edge node.
//!
//! ```text
//! kubectl ==WebSocket==> hub (this file) ==QUIC bi-stream==> agent ==> Podman exec
//!   [0]stdin  [255,0]close-stdin  [4]resize   ->  ExecInput::Stdin / CloseStdin / Resize
//!   [1]stdout [2]stderr  [3]Status, close     <-  ExecOutput::Stdout / Stderr / Exit
//! ```
//!
//! Every message of the channel protocols carries the channel number in its first byte (as
//! binary frames; text frames, which the Python client sends, are read the same); `v5` adds channel 255 to close one of the client's channels (kubectl closes stdin
//! so). The command's end is reported on channel 3 as a `Status` (`Success`, or `Failure` with
//! reason `NonZeroExitCode` and the exit code), after which the hub closes the WebSocket.
//!
//! Errors found before the upgrade (unknown pod or container, node not connected, a request
//! without a command) are ordinary Kubernetes `Status` responses. SPDY (the only transport of
//! kubectl 1.28 and older, 1.29's default, and the fallback of newer ones) cannot be served: actix-web hands
//! only WebSocket upgrades to handlers, so such requests get a 400 that says so.
//!
//! Design: the agent stream's reader is one task, the WebSocket reader another (it also
//! answers the client's pings); both end when either side ends, and dropping the agent
//! stream is what tells the agent to stop.

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shoal_transport::frame::{read_frame, write_frame};
use shoal_transport::wire::{
    ExecInput, ExecOutput, ExecRequest, StreamRequest, MAX_STREAM_CHUNK, MAX_STREAM_FRAME,
};

use super::error::ApiError;
use super::node_stream;
use super::request::{percent_decode, Target};
use super::websocket::{self, Decoder, Message, Opcode};
use super::ApiState;

/// Subprotocols served, most preferred first.
pub const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Channel numbers of the remote command protocols.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: "close the channel in the next byte".
const CLOSE: u8 = 255;

/// WebSocket frames queued for the client at most (output waits for the client beyond).
const OUTPUT_BUFFER: usize = 16;

/// The exec options of a request, checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExecQuery {
    pub container: String,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecQuery {
    /// Parses the raw query string (`command` repeats, one argument each).
    pub fn parse(qs: &str) -> Result<ExecQuery, ApiError> {
        let mut q = ExecQuery::default();
        for pair in qs.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            let flag = matches!(v.as_str(), "true" | "1");
            match percent_decode(k).as_str() {
                "command" => q.command.push(v),
                "container" => q.container = v,
                "stdin" => q.stdin = flag,
                "stdout" => q.stdout = flag,
                "stderr" => q.stderr = flag,
                "tty" => q.tty = flag,
                _ => {}
            }
        }
        if q.command.is_empty() {
            return Err(ApiError::bad_request("you must specify at least 1 command"));
        }
        if !(q.stdin || q.stdout || q.stderr) {
            return Err(ApiError::bad_request(
                "you must specify at least 1 of stdin, stdout, stderr",
            ));
        }
        Ok(q)
    }
}

/// Whether a request asks to be upgraded to a WebSocket.
pub fn wants_websocket(req: &HttpRequest) -> bool {
    req.headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The subprotocol to speak, from the client's `Sec-WebSocket-Protocol` header values.
pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let offered: Vec<&str> = offered
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    PROTOCOLS.iter().copied().find(|p| offered.contains(p))
}

/// What one binary message from the client means.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientInput {
    Stdin(Vec<u8>),
    CloseStdin,
    Resize { width: u16, height: u16 },
    Ignore,
}

/// Decodes a client's binary message (`v5` enables the close channel).
pub fn client_input(v5: bool, msg: &[u8]) -> ClientInput {
    match msg.split_first() {
        Some((&STDIN, data)) if !data.is_empty() => ClientInput::Stdin(data.to_vec()),
        Some((&CLOSE, [STDIN, ..])) if v5 => ClientInput::CloseStdin,
        Some((&RESIZE, data)) => {
            let size: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
            let dim = |k: &str| size[k].as_u64().and_then(|n| u16::try_from(n).ok());
            match (dim("Width"), dim("Height")) {
                (Some(width), Some(height)) => ClientInput::Resize { width, height },
                _ => ClientInput::Ignore,
            }
        }
        _ => ClientInput::Ignore,
    }
}

/// One output message on `channel`, as a WebSocket frame.
pub fn channel_frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(data.len() + 1);
    msg.push(channel);
    msg.extend_from_slice(data);
    websocket::encode(Opcode::Binary, &msg)
}

/// The `Status` reported on the error channel when the command ended with `code`
/// (`message` says why when it could not run at all).
pub fn exit_status(code: i32, message: &str, command: &[String]) -> Value {
    if !message.is_empty() {
        return json!({"metadata": {}, "status": "Failure", "message": message,
                      "reason": "InternalError"});
    }
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// What one read from the agent's exec stream means for the client.
#[derive(Debug, PartialEq)]
pub enum Forward {
    /// Output for a channel.
    Data(u8, Vec<u8>),
    /// The session is over: this `Status` goes on the error channel.
    End(Value),
}

/// Decides [`Forward`] for a frame read from the agent (or the failure to read one): a
/// garbled or missing frame ends the session with a `Failure` instead of hanging it.
pub fn forward(
    read: Result<Option<ExecOutput>, shoal_transport::frame::FrameError>,
    command: &[String],
) -> Forward {
    match read {
        Ok(Some(ExecOutput::Stdout(b))) => Forward::Data(STDOUT, b),
        Ok(Some(ExecOutput::Stderr(b))) => Forward::Data(STDERR, b),
        Ok(Some(ExecOutput::Exit { code, message })) => {
            Forward::End(exit_status(code, &message, command))
        }
        Ok(None) => Forward::End(exit_status(
            -1,
            "the node ended the exec stream without an exit code",
            command,
        )),
        Err(e) => Forward::End(exit_status(
            -1,
            &format!("the exec stream from the node broke off: {e}"),
            command,
        )),
    }
}

/// Serves `pods/exec`. `payload` is the upgraded connection's incoming bytes (WebSocket
/// requests only).
pub async fn exec(
    state: &ApiState,
    target: &Target,
    req: &HttpRequest,
    payload: Option<web::Payload>,
) -> Result<HttpResponse, ApiError> {
    let query = ExecQuery::parse(req.query_string())?;
    let pod = node_stream::load_pod(state, target)?;
    let container = node_stream::resolve_container(&pod.pod, &query.container)?;
    node_stream::check_running(&pod.pod, &container)?;
    let (Some(payload), true) = (payload, wants_websocket(req)) else {
        return Err(ApiError::bad_request(
            "exec is served over WebSocket only (v5.channel.k8s.io or v4.channel.k8s.io: kubectl 1.30 and newer, or kubectl 1.29 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true); SPDY upgrades are not supported by this hub",
        ));
    };
    let offered = req
        .headers()
        .get_all("sec-websocket-protocol")
        .filter_map(|v| v.to_str().ok());
    let protocol = negotiate(offered).ok_or_else(|| {
        ApiError::bad_request(format!(
            "no supported WebSocket subprotocol offered; this hub speaks {}",
            PROTOCOLS.join(", ")
        ))
    })?;
    let key = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::bad_request("WebSocket upgrade without Sec-WebSocket-Key"))?;
    let accept = websocket::accept_key(key);

    let request = ExecRequest {
        pod: pod.pod_ref.clone(),
        container,
        command: query.command.clone(),
        stdin: query.stdin,
        stdout: query.stdout,
        stderr: query.stderr,
        tty: query.tty,
    };
    let (send, recv) = node_stream::open(&state.nodes, &pod, &StreamRequest::Exec(request)).await?;

    let (out_tx, out_rx) = futures::channel::mpsc::channel::<Bytes>(OUTPUT_BUFFER);
    let (gone_tx, gone_rx) = futures::channel::oneshot::channel::<()>();
    let input = actix_web::rt::spawn(client_to_agent(
        payload,
        send,
        out_tx.clone(),
        gone_tx,
        protocol == PROTOCOLS[0],
    ));
    actix_web::rt::spawn(agent_to_client(recv, out_tx, gone_rx, input, query.command));

    Ok(HttpResponse::SwitchingProtocols()
        .upgrade("websocket")
        .insert_header(("Sec-WebSocket-Accept", accept))
        .insert_header(("Sec-WebSocket-Protocol", protocol))
        .streaming(out_rx.map(Ok::<Bytes, actix_web::Error>)))
}

/// Reads the client's WebSocket messages: stdin and resizes go to the agent, pings are
/// answered. Ends (and says so on `gone`) when the client closes or goes away.
async fn client_to_agent(
    mut payload: web::Payload,
    mut send: quinn::SendStream,
    mut out: futures::channel::mpsc::Sender<Bytes>,
    gone: futures::channel::oneshot::Sender<()>,
    v5: bool,
) {
    let mut decoder = Decoder::default();
    // Once the agent side is closed, input is dropped; pings are still answered.
    let mut agent_open = true;
    'read: while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else { break };
        decoder.push(&chunk);
        loop {
            let input = match decoder.next_message() {
                // The channel protocols mean the same by text and binary frames (the Python
                // client sends text).
                Ok(Some(Message::Binary(m) | Message::Text(m))) => client_input(v5, &m),
                Ok(Some(Message::Ping(p))) => {
                    let _ = out.send(websocket::encode(Opcode::Pong, &p).into()).await;
                    continue;
                }
                Ok(Some(Message::Pong(_))) => continue,
                Ok(Some(Message::Close)) => break 'read,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "bad WebSocket input on exec");
                    let _ = out.send(websocket::close_frame(1002).into()).await;
                    break 'read;
                }
            };
            if !agent_open {
                continue;
            }
            let frames: Vec<ExecInput> = match input {
                ClientInput::Stdin(b) => b
                    .chunks(MAX_STREAM_CHUNK)
                    .map(|c| ExecInput::Stdin(c.to_vec()))
                    .collect(),
                ClientInput::CloseStdin => vec![ExecInput::CloseStdin],
                ClientInput::Resize { width, height } => vec![ExecInput::Resize { width, height }],
                ClientInput::Ignore => vec![],
            };
            for f in &frames {
                if write_frame(&mut send, f).await.is_err() {
                    agent_open = false;
                    break;
                }
            }
        }
    }
    let _ = gone.send(());
}

/// Forwards the agent's output to the client, then the exit status and a close frame.
async fn agent_to_client(
    mut recv: quinn::RecvStream,
    mut out: futures::channel::mpsc::Sender<Bytes>,
    gone: futures::channel::oneshot::Receiver<()>,
    input: actix_web::rt::task::JoinHandle<()>,
    command: Vec<String>,
) {
    let forward = async {
        loop {
            let read = read_frame::<ExecOutput>(&mut recv, MAX_STREAM_FRAME).await;
            match forward(read, &command) {
                Forward::Data(channel, data) => {
                    if out
                        .send(channel_frame(channel, &data).into())
                        .await
                        .is_err()
                    {
                        return None; // the client is gone
                    }
                }
                Forward::End(status) => return Some(status),
            }
        }
    };
    let status = tokio::select! {
        status = forward => status,
        _ = gone => None,
    };
    if let Some(status) = status {
        let body = serde_json::to_vec(&status).unwrap_or_default();
        let _ = out.send(channel_frame(ERROR, &body).into()).await;
        let _ = out.send(websocket::close_frame(1000).into()).await;
    }
    // Ending both tasks drops every sender: the response body ends and the connection closes;
    // dropping `recv` stops the agent's side.
    input.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_exec_queries() {
        let q = ExecQuery::parse(
            "command=sh&command=-c&command=echo+hi%3B+exit+3&container=app&stdin=true&stdout=true&stderr=true&tty=false",
        )
        .expect("valid");
        assert_eq!(
            q,
            ExecQuery {
                container: "app".into(),
                command: vec!["sh".into(), "-c".into(), "echo hi; exit 3".into()],
                stdin: true,
                stdout: true,
                stderr: true,
                tty: false,
            }
        );
        assert_eq!(
            ExecQuery::parse("stdout=true")
                .expect_err("no command")
                .message,
            "you must specify at least 1 command"
        );
        assert_eq!(
            ExecQuery::parse("command=ls").expect_err("no streams").code,
            400
        );
    }

    #[test]
    fn negotiates_the_newest_channel_protocol() {
        assert_eq!(
            negotiate(["v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io"]),
            Some("v5.channel.k8s.io")
        );
        assert_eq!(
            negotiate(["v3.channel.k8s.io", "v4.channel.k8s.io"]),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(negotiate(["base64.channel.k8s.io"]), None);
        assert_eq!(negotiate([]), None);
    }

    #[test]
    fn decodes_client_channels() {
        assert_eq!(
            client_input(true, &[0, b'x']),
            ClientInput::Stdin(vec![b'x'])
        );
        assert_eq!(client_input(true, &[255, 0]), ClientInput::CloseStdin);
        assert_eq!(client_input(false, &[255, 0]), ClientInput::Ignore);
        assert_eq!(
            client_input(true, b"\x04{\"Width\":80,\"Height\":24}"),
            ClientInput::Resize {
                width: 80,
                height: 24
            }
        );
        assert_eq!(client_input(true, b"\x04garbage"), ClientInput::Ignore);
        assert_eq!(client_input(true, &[]), ClientInput::Ignore);
        assert_eq!(client_input(true, &[0]), ClientInput::Ignore);
        assert_eq!(channel_frame(1, b"hi"), vec![0x82, 3, 1, b'h', b'i']);
    }

    #[test]
    fn agent_frames_become_channels_and_bad_ones_end_the_session() {
        let cmd = vec!["true".to_string()];
        assert_eq!(
            forward(Ok(Some(ExecOutput::Stdout(b"o".to_vec()))), &cmd),
            Forward::Data(1, b"o".to_vec())
        );
        assert_eq!(
            forward(Ok(Some(ExecOutput::Stderr(b"e".to_vec()))), &cmd),
            Forward::Data(2, b"e".to_vec())
        );
        assert_eq!(
            forward(
                Ok(Some(ExecOutput::Exit {
                    code: 0,
                    message: String::new()
                })),
                &cmd
            ),
            Forward::End(exit_status(0, "", &cmd))
        );
        let Forward::End(garbled) = forward(
            Err(shoal_transport::frame::FrameError::TrailingBytes { extra: 3 }),
            &cmd,
        ) else {
            panic!("a garbled frame ends the session");
        };
        assert_eq!(garbled["status"], "Failure");
        assert!(garbled["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the exec stream from the node broke off")));
        let Forward::End(cut) = forward(Ok(None), &cmd) else {
            panic!("a stream without Exit ends the session");
        };
        assert_eq!(
            cut["message"],
            "the node ended the exec stream without an exit code"
        );
    }

    #[test]
    fn exit_codes_become_kubernetes_statuses() {
        let cmd = vec!["sh".to_string(), "-c".to_string(), "exit 3".to_string()];
        assert_eq!(exit_status(0, "", &cmd)["status"], "Success");
        let failed = exit_status(3, "", &cmd);
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "3");
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
        let broken = exit_status(-1, "no runtime", &cmd);
        assert_eq!(broken["status"], "Failure");
        assert_eq!(broken["message"], "no runtime");
    }
}
