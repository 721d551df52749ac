//! Logs and exec on Podman: `GET /libpod/containers/{id}/logs` and the exec create/start/inspect
//! calls, turned into the runtime-neutral [`LogStream`] and [`ExecSession`].
//!
//! Design: Podman keeps one container per spec container and restarts it in place, so its log
//! holds every run. Kubernetes shows only the current run (and the one before with
//! `--previous`); [`log_window`] cuts the log at the boundary between the two runs with
//! `since`/`until`, from the times Podman records.

use futures::channel::mpsc;
use futures::{AsyncWriteExt, FutureExt, StreamExt};
use podman_api::conn::TtyChunk;
use podman_api::opts::{ContainerLogsOpts, ExecCreateOpts, ExecStartOpts};
use podman_api::Podman;
use tracing::{debug, info};

use super::observe::observed_state;
use super::spec::LABEL_CONTAINER;
use super::PodmanRuntime;
use crate::runtime::{
    ExecChunk, ExecSession, ExecSpec, ExecStdin, LogOptions, LogStream, ObservedState,
    RuntimeError, STREAM_BUFFER_CHUNKS,
};

/// For an exited container Podman no longer knows when the run before the last one ended;
/// the boundary is then put this long before the last start (restarts are seconds apart,
/// and output can be recorded a moment before Podman records the start).
const EXITED_BOUNDARY_MARGIN_MS: u64 = 200;
/// How long the exit code may take to show up after an exec's output ended.
const EXEC_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The `(since, until)` window of the log (ms since the epoch) that `opts` selects for a
/// container in `state`; `None` for a limit means none. `previous_finished_ms` is Podman's
/// FinishedAt, which for a running container is the end of the run before (0 if it never
/// exited). Returns `None` when there is nothing to read (`previous` without an earlier run).
/// Pure.
pub fn log_window(
    opts: &LogOptions,
    state: &ObservedState,
    previous_finished_ms: u64,
) -> Option<(Option<u64>, Option<u64>)> {
    // Where the current run's output starts, if an earlier run exists.
    let boundary = match *state {
        ObservedState::Created => None,
        ObservedState::Running { started_at_ms } => (previous_finished_ms > 0
            && previous_finished_ms <= started_at_ms)
            .then_some(previous_finished_ms),
        ObservedState::Exited { started_at_ms, .. } => {
            (started_at_ms > 0).then(|| started_at_ms.saturating_sub(EXITED_BOUNDARY_MARGIN_MS))
        }
    };
    if opts.previous {
        let until = boundary?;
        Some((opts.since_ms, Some(until)))
    } else {
        let since = match (opts.since_ms, boundary) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Some((since, None))
    }
}

/// Podman's `since`/`until` take Unix time as `seconds.nanoseconds`.
fn podman_time(ms: u64) -> String {
    format!("{}.{:09}", ms / 1000, (ms % 1000) * 1_000_000)
}

impl PodmanRuntime {
    /// The Podman id and state of container `container` of pod `uid`.
    async fn find_container(
        &self,
        uid: &str,
        container: &str,
    ) -> Result<(String, ObservedState, u64), RuntimeError> {
        let not_found = || RuntimeError::ContainerNotFound {
            uid: uid.to_string(),
            container: container.to_string(),
        };
        let id = self
            .find_containers(Some(uid))
            .await?
            .into_iter()
            .find(|c| {
                c.labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_CONTAINER))
                    .is_some_and(|n| n == container)
            })
            .and_then(|c| c.id)
            .ok_or_else(not_found)?;
        let data = self
            .podman
            .containers()
            .get(id.as_str())
            .inspect()
            .await
            .map_err(Self::podman_err(format!(
                "inspect container {container} of pod {uid}"
            )))?;
        let state = data.state.as_ref();
        let observed = state.map_or(ObservedState::Created, observed_state);
        // While a restarted container runs, FinishedAt is the end of the run before.
        let finished_ms = state
            .and_then(|s| s.finished_at)
            .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
            .unwrap_or(0);
        Ok((id, observed, finished_ms))
    }

    pub(super) async fn do_logs(
        &self,
        uid: &str,
        container: &str,
        opts: LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        let (id, state, finished_ms) = self.find_container(uid, container).await?;
        let Some((since, until)) = log_window(&opts, &state, finished_ms) else {
            return Ok(futures::stream::empty().boxed());
        };
        let mut builder = ContainerLogsOpts::builder()
            .stdout(true)
            .stderr(true)
            .follow(opts.follow && !opts.previous)
            .timestamps(opts.timestamps);
        if let Some(n) = opts.tail_lines {
            builder = builder.tail(n.to_string());
        }
        if let Some(ms) = since {
            builder = builder.since(podman_time(ms));
        }
        if let Some(ms) = until {
            builder = builder.until(podman_time(ms));
        }
        let podman_opts = builder.build();
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BUFFER_CHUNKS);
        let podman: Podman = self.podman.clone();
        let what = format!("read the log of container {container} of pod {uid}");
        // Design: the task owns the Podman call and ends as soon as the reader drops `rx`,
        // even while a followed log is silent: that closes the connection and stops Podman
        // following.
        tokio::spawn(async move {
            let handle = podman.containers().get(id.as_str());
            let mut chunks = handle.logs(&podman_opts);
            loop {
                let chunk = tokio::select! {
                    () = tx.closed() => {
                        info!(%id, "log reader gone; Podman log call closed");
                        break;
                    }
                    chunk = chunks.next() => chunk,
                };
                let item = match chunk {
                    None => break,
                    Some(Ok(TtyChunk::StdOut(b) | TtyChunk::StdErr(b))) => Ok(b),
                    Some(Ok(TtyChunk::StdIn(_))) => continue,
                    Some(Err(source)) => Err(RuntimeError::Podman {
                        op: what.clone(),
                        source,
                    }),
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() {
                    info!(%id, "log reader gone; Podman log call closed");
                    break;
                }
                if failed {
                    break;
                }
            }
            debug!(%id, "log stream ended");
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .boxed())
    }

    pub(super) async fn do_exec(
        &self,
        uid: &str,
        container: &str,
        spec: ExecSpec,
    ) -> Result<ExecSession, RuntimeError> {
        let (id, state, _) = self.find_container(uid, container).await?;
        if !state.is_running() {
            return Err(RuntimeError::ContainerNotRunning {
                uid: uid.to_string(),
                container: container.to_string(),
            });
        }
        let what = format!("exec in container {container} of pod {uid}");
        let handle = self.podman.containers().get(id.as_str());
        let exec = handle
            .create_exec(
                &ExecCreateOpts::builder()
                    .command(spec.command.clone())
                    .attach_stdin(spec.stdin)
                    .attach_stdout(spec.stdout)
                    .attach_stderr(spec.stderr)
                    .tty(spec.tty)
                    .build(),
            )
            .await
            .map_err(Self::podman_err(what.clone()))?;
        let mux = exec
            .start(&ExecStartOpts::builder().tty(spec.tty).build())
            .await
            .map_err(Self::podman_err(what.clone()))?
            .ok_or_else(|| RuntimeError::Podman {
                op: what.clone(),
                source: podman_api::Error::StringError("exec started detached".into()),
            })?;
        let (reader, mut writer) = mux.split();
        let stdin = if spec.stdin {
            let (tx, mut rx) = mpsc::channel::<ExecStdin>(STREAM_BUFFER_CHUNKS);
            tokio::spawn(async move {
                while let Some(input) = rx.next().await {
                    match input {
                        ExecStdin::Data(b) => {
                            if writer.write_all(&b).await.is_err() {
                                return;
                            }
                        }
                        ExecStdin::Close => break,
                    }
                }
                let _ = writer.close().await;
            });
            Some(tx)
        } else {
            None
        };
        let op = what.clone();
        let output = reader
            .filter_map(move |chunk| {
                let op = op.clone();
                async move {
                    match chunk {
                        Ok(TtyChunk::StdOut(b)) => Some(Ok(ExecChunk::Stdout(b))),
                        Ok(TtyChunk::StdErr(b)) => Some(Ok(ExecChunk::Stderr(b))),
                        Ok(TtyChunk::StdIn(_)) => None,
                        Err(e) => Some(Err(RuntimeError::Podman {
                            op,
                            source: podman_api::Error::Error(e),
                        })),
                    }
                }
            })
            .boxed();
        let exec_id = exec.id().to_string();
        let resize = spec.tty.then(|| {
            let (tx, mut rx) = mpsc::channel::<(u16, u16)>(STREAM_BUFFER_CHUNKS);
            let podman = self.podman.clone();
            let id = exec_id.clone();
            tokio::spawn(async move {
                while let Some((w, h)) = rx.next().await {
                    if let Err(e) = podman
                        .execs()
                        .get(id.as_str())
                        .resize(usize::from(w), usize::from(h))
                        .await
                    {
                        debug!(exec = %id, error = %e, "resizing an exec session failed");
                    }
                }
            });
            tx
        });
        let podman = self.podman.clone();
        let exit_code = async move {
            let deadline = tokio::time::Instant::now() + EXEC_EXIT_WAIT;
            loop {
                let info = podman
                    .execs()
                    .get(exec_id.as_str())
                    .inspect()
                    .await
                    .map_err(|source| RuntimeError::Podman {
                        op: format!("inspect {what}"),
                        source,
                    })?;
                let running = info["Running"].as_bool().unwrap_or(false);
                if !running || tokio::time::Instant::now() >= deadline {
                    let code = info["ExitCode"].as_i64().unwrap_or(-1);
                    return Ok(i32::try_from(code).unwrap_or(-1));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
        .boxed();
        Ok(ExecSession {
            output,
            stdin,
            resize,
            exit_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(previous: bool, since_ms: Option<u64>) -> LogOptions {
        LogOptions {
            previous,
            since_ms,
            ..Default::default()
        }
    }

    #[test]
    fn windows_cut_the_log_between_runs() {
        let running = ObservedState::Running {
            started_at_ms: 10_000,
        };
        let exited = ObservedState::Exited {
            exit_code: 1,
            started_at_ms: 10_000,
            finished_at_ms: 12_000,
            oom_killed: false,
        };
        type Window = Option<(Option<u64>, Option<u64>)>;
        let cases: &[(&str, LogOptions, ObservedState, u64, Window)] = &[
            (
                "first run, everything",
                opts(false, None),
                running,
                0,
                Some((None, None)),
            ),
            (
                "first run, since",
                opts(false, Some(5)),
                running,
                0,
                Some((Some(5), None)),
            ),
            (
                "first run has no previous",
                opts(true, None),
                running,
                0,
                None,
            ),
            (
                "restarted: current from the last exit",
                opts(false, None),
                running,
                8_000,
                Some((Some(8_000), None)),
            ),
            (
                "restarted: later since wins",
                opts(false, Some(9_000)),
                running,
                8_000,
                Some((Some(9_000), None)),
            ),
            (
                "restarted: previous until the last exit",
                opts(true, None),
                running,
                8_000,
                Some((None, Some(8_000))),
            ),
            (
                "exited: last run with a margin",
                opts(false, None),
                exited,
                12_000,
                Some((Some(9_800), None)),
            ),
            (
                "exited: previous before the last run",
                opts(true, Some(1)),
                exited,
                12_000,
                Some((Some(1), Some(9_800))),
            ),
            (
                "never started",
                opts(false, None),
                ObservedState::Created,
                0,
                Some((None, None)),
            ),
            (
                "never started, previous",
                opts(true, None),
                ObservedState::Created,
                0,
                None,
            ),
        ];
        for (what, o, state, finished, want) in cases {
            assert_eq!(&log_window(o, state, *finished), want, "{what}");
        }
    }

    #[test]
    fn podman_times_are_seconds_dot_nanos() {
        assert_eq!(podman_time(1_700_000_000_123), "1700000000.123000000");
        assert_eq!(podman_time(5), "0.005000000");
    }
}
