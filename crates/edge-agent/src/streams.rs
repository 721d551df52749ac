//! Serves the hub's logs and exec requests: every bi-stream the hub opens on the agent's
//! connection carries one request.
//!
//! ```text
//! hub                                   agent (this module)                 runtime
//!  | StreamRequest::Logs  ------------>  runtime.logs(uid, container) ---->  Podman logs
//!  | <------------ StreamReply::Ready, then raw log bytes, then FIN
//!  | StreamRequest::Exec  ------------>  runtime.exec(uid, container) ---->  Podman exec
//!  | ExecInput::Stdin / CloseStdin --->  stdin channel
//!  | <------------ StreamReply::Ready, ExecOutput::Stdout/Stderr ..., ExecOutput::Exit, FIN
//! ```
//!
//! A request the runtime cannot serve gets `StreamReply::Failed` with the Kubernetes error
//! kind it should become. Design: the hub cancels by stopping the stream (its HTTP client went
//! away); the agent notices through `SendStream::stopped` even while a followed log is idle,
//! drops the runtime's stream and so stops following. How many requests run at once is bounded
//! by QUIC's stream limit ([`shoal_transport::quic::MAX_BIDI_STREAMS`]); how much output is in
//! flight by QUIC flow control and [`crate::runtime::STREAM_BUFFER_CHUNKS`].

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use shoal_transport::frame::{read_frame, write_frame, FrameError};
use shoal_transport::wire::{
    ExecInput, ExecOutput, ExecRequest, LogsRequest, PodRef, StreamFailure, StreamFailureKind,
    StreamReply, StreamRequest, MAX_STREAM_CHUNK, MAX_STREAM_FRAME,
};
use tracing::{debug, info};

use crate::error_chain;
use crate::runtime::{ContainerRuntime, ExecChunk, ExecSpec, ExecStdin, LogOptions, RuntimeError};

/// Why serving one stream ended early.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the hub's request could not be read")]
    Request {
        #[source]
        source: FrameError,
    },
    #[error("the hub closed the stream before sending a request")]
    NoRequest,
    #[error("writing to the hub failed")]
    Write {
        #[source]
        source: FrameError,
    },
    #[error("writing log output to the hub failed")]
    WriteRaw {
        #[source]
        source: quinn::WriteError,
    },
}

/// Accepts the hub's streams on `conn` until the connection ends, serving each in a task.
pub async fn serve(conn: quinn::Connection, runtime: Arc<dyn ContainerRuntime>) {
    while let Ok((send, recv)) = conn.accept_bi().await {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_stream(send, recv, runtime).await {
                debug!(error = %error_chain(&e), "logs/exec stream ended early");
            }
        });
    }
}

/// Serves one stream: reads the request and answers it.
pub async fn serve_stream(
    send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    runtime: Arc<dyn ContainerRuntime>,
) -> Result<(), StreamError> {
    let request = read_frame::<StreamRequest>(&mut recv, MAX_STREAM_FRAME)
        .await
        .map_err(|source| StreamError::Request { source })?
        .ok_or(StreamError::NoRequest)?;
    match request {
        StreamRequest::Logs(r) => serve_logs(send, r, runtime).await,
        StreamRequest::Exec(r) => serve_exec(send, recv, r, runtime).await,
    }
}

/// The [`StreamFailure`] the hub gets for a runtime error.
pub fn failure(e: &RuntimeError, pod: &PodRef, container: &str) -> StreamFailure {
    let pod = format!("{}/{}", pod.namespace, pod.name);
    match e {
        RuntimeError::ContainerNotFound { .. } => StreamFailure {
            kind: StreamFailureKind::NotFound,
            message: format!(
                "container {container:?} in pod {pod:?} has not been created on its node yet"
            ),
        },
        RuntimeError::ContainerNotRunning { .. } => StreamFailure {
            kind: StreamFailureKind::BadRequest,
            message: format!(
                "container {container:?} in pod {pod:?} is not running; exec needs a running container"
            ),
        },
        RuntimeError::Unsupported { .. } => StreamFailure {
            kind: StreamFailureKind::BadRequest,
            message: format!("{e}: pod {pod:?} runs on a node that cannot serve this"),
        },
        other => StreamFailure {
            kind: StreamFailureKind::Internal,
            message: error_chain(other),
        },
    }
}

async fn reply(send: &mut quinn::SendStream, reply: &StreamReply) -> Result<(), StreamError> {
    write_frame(send, reply)
        .await
        .map_err(|source| StreamError::Write { source })
}

async fn serve_logs(
    mut send: quinn::SendStream,
    r: LogsRequest,
    runtime: Arc<dyn ContainerRuntime>,
) -> Result<(), StreamError> {
    let opts = LogOptions {
        follow: r.follow,
        tail_lines: r.tail_lines,
        since_ms: r.since_ms,
        previous: r.previous,
        timestamps: r.timestamps,
    };
    let mut output = match runtime.logs(&r.pod.uid, &r.container, opts).await {
        Ok(s) => s,
        Err(e) => {
            reply(
                &mut send,
                &StreamReply::Failed(failure(&e, &r.pod, &r.container)),
            )
            .await?;
            let _ = send.finish();
            return Ok(());
        }
    };
    reply(&mut send, &StreamReply::Ready).await?;
    let stopped = send.stopped();
    tokio::pin!(stopped);
    let mut left = r.limit_bytes.unwrap_or(u64::MAX);
    while left > 0 {
        let chunk = tokio::select! {
            _ = &mut stopped => {
                info!(pod = %r.pod.name, container = %r.container, "the hub stopped reading the log; no longer following");
                return Ok(());
            }
            next = output.next() => next,
        };
        let mut bytes = match chunk {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                info!(pod = %r.pod.name, container = %r.container, error = %error_chain(&e), "reading a log failed");
                break;
            }
            None => break,
        };
        if (bytes.len() as u64) > left {
            bytes.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        }
        left -= bytes.len() as u64;
        send.write_all(&bytes)
            .await
            .map_err(|source| StreamError::WriteRaw { source })?;
    }
    let _ = send.finish();
    Ok(())
}

async fn serve_exec(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    r: ExecRequest,
    runtime: Arc<dyn ContainerRuntime>,
) -> Result<(), StreamError> {
    let spec = ExecSpec {
        command: r.command.clone(),
        stdin: r.stdin,
        stdout: r.stdout,
        stderr: r.stderr,
        tty: r.tty,
    };
    let session = match runtime.exec(&r.pod.uid, &r.container, spec).await {
        Ok(s) => s,
        Err(e) => {
            reply(
                &mut send,
                &StreamReply::Failed(failure(&e, &r.pod, &r.container)),
            )
            .await?;
            let _ = send.finish();
            return Ok(());
        }
    };
    reply(&mut send, &StreamReply::Ready).await?;
    let mut stdin = session.stdin;
    let mut resize = session.resize;
    // Design: read_frame is not cancel-safe, so input is read in a task of its own.
    let input = tokio::spawn(async move {
        loop {
            let frame = read_frame::<ExecInput>(&mut recv, MAX_STREAM_FRAME).await;
            let data = match frame {
                Ok(Some(ExecInput::Stdin(b))) => ExecStdin::Data(b),
                Ok(Some(ExecInput::Resize { width, height })) => {
                    // Only the latest size matters: drop one the runtime has no room for.
                    if let Some(r) = resize.as_mut() {
                        let _ = r.try_send((width, height));
                    }
                    continue;
                }
                Ok(Some(ExecInput::CloseStdin)) | Ok(None) | Err(_) => ExecStdin::Close,
            };
            let close = data == ExecStdin::Close;
            if let Some(tx) = stdin.as_mut() {
                if tx.send(data).await.is_err() {
                    stdin = None;
                }
            }
            if close {
                // Dropping the sender closes the command's stdin.
                return;
            }
        }
    });
    let stopped = send.stopped();
    tokio::pin!(stopped);
    let mut output = session.output;
    let mut failed = None;
    loop {
        let chunk = tokio::select! {
            _ = &mut stopped => {
                input.abort();
                debug!(pod = %r.pod.name, container = %r.container, "hub went away during exec");
                return Ok(());
            }
            next = output.next() => next,
        };
        let (bytes, stderr) = match chunk {
            Some(Ok(ExecChunk::Stdout(b))) => (b, false),
            Some(Ok(ExecChunk::Stderr(b))) => (b, true),
            Some(Err(e)) => {
                failed = Some(error_chain(&e));
                break;
            }
            None => break,
        };
        for piece in bytes.chunks(MAX_STREAM_CHUNK) {
            let msg = if stderr {
                ExecOutput::Stderr(piece.to_vec())
            } else {
                ExecOutput::Stdout(piece.to_vec())
            };
            write_frame(&mut send, &msg)
                .await
                .map_err(|source| StreamError::Write { source })?;
        }
    }
    input.abort();
    let exit = match (failed, session.exit_code.await) {
        (None, Ok(code)) => ExecOutput::Exit {
            code,
            message: String::new(),
        },
        (Some(message), _) => ExecOutput::Exit { code: -1, message },
        (None, Err(e)) => ExecOutput::Exit {
            code: -1,
            message: error_chain(&e),
        },
    };
    write_frame(&mut send, &exit)
        .await
        .map_err(|source| StreamError::Write { source })?;
    let _ = send.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::FutureExt;
    use shoal_transport::wire::PodPlan;

    use super::*;
    use crate::runtime::{ObservedPod, RuntimeFuture};

    /// A runtime that implements only what every runtime must.
    struct Bare;

    impl ContainerRuntime for Bare {
        fn name(&self) -> &'static str {
            "bare"
        }
        fn version(&self) -> RuntimeFuture<'_, String> {
            async { Ok(String::new()) }.boxed()
        }
        fn start_pod<'a>(&'a self, _: &'a PodPlan) -> RuntimeFuture<'a, ()> {
            async { Ok(()) }.boxed()
        }
        fn restart_container<'a>(&'a self, _: &'a str, _: &'a str) -> RuntimeFuture<'a, ()> {
            async { Ok(()) }.boxed()
        }
        fn stop_pod<'a>(&'a self, _: &'a str, _: Duration) -> RuntimeFuture<'a, ()> {
            async { Ok(()) }.boxed()
        }
        fn remove_pod<'a>(&'a self, _: &'a str) -> RuntimeFuture<'a, ()> {
            async { Ok(()) }.boxed()
        }
        fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>> {
            async { Ok(Vec::new()) }.boxed()
        }
        fn start_init_container<'a>(&'a self, _: &'a PodPlan, _: &'a str) -> RuntimeFuture<'a, ()> {
            async { Ok(()) }.boxed()
        }
        fn sync_volumes<'a>(&'a self, _: &'a PodPlan) -> RuntimeFuture<'a, ()> {
            async { Ok(()) }.boxed()
        }
        fn stop_container<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Duration,
        ) -> RuntimeFuture<'a, ()> {
            async { Ok(()) }.boxed()
        }
        fn probe_exec<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a [String],
            _: Duration,
        ) -> RuntimeFuture<'a, (i32, String)> {
            async { Ok((0, String::new())) }.boxed()
        }
        fn container_usage(&self) -> RuntimeFuture<'_, Vec<crate::runtime::ContainerUsage>> {
            async { Ok(Vec::new()) }.boxed()
        }
    }

    fn pod() -> PodRef {
        PodRef {
            uid: "u".into(),
            namespace: "default".into(),
            name: "web".into(),
        }
    }

    #[tokio::test]
    async fn runtimes_without_logs_or_exec_say_so() {
        let Err(e) = Bare.logs("u", "c", LogOptions::default()).await else {
            panic!("the default logs must fail");
        };
        let f = failure(&e, &pod(), "c");
        assert_eq!(f.kind, StreamFailureKind::BadRequest);
        assert!(
            f.message.contains("the bare runtime does not support logs"),
            "{}",
            f.message
        );
        let Err(e) = Bare.exec("u", "c", ExecSpec::default()).await else {
            panic!("the default exec must fail");
        };
        assert!(matches!(e, RuntimeError::Unsupported { what: "exec", .. }));
    }

    #[test]
    fn runtime_errors_become_kubernetes_kinds() {
        let (uid, container) = ("u".to_string(), "c".to_string());
        let cases = [
            (
                RuntimeError::ContainerNotFound {
                    uid: uid.clone(),
                    container: container.clone(),
                },
                StreamFailureKind::NotFound,
                "container \"c\" in pod \"default/web\" has not been created on its node yet",
            ),
            (
                RuntimeError::ContainerNotRunning { uid, container },
                StreamFailureKind::BadRequest,
                "container \"c\" in pod \"default/web\" is not running; exec needs a running container",
            ),
            (
                RuntimeError::Injected { op: "logs".into() },
                StreamFailureKind::Internal,
                "logs failed (injected by the fake runtime)",
            ),
        ];
        for (e, kind, message) in cases {
            let f = failure(&e, &pod(), "c");
            assert_eq!((f.kind, f.message.as_str()), (kind, message));
        }
    }
}
