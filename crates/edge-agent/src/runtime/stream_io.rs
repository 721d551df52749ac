//! What [`ContainerRuntime::logs`](super::ContainerRuntime::logs) and
//! [`ContainerRuntime::exec`](super::ContainerRuntime::exec) take and hand back.
//!
//! Both hand back `'static` streams so that the agent's stream server can pump them into a
//! QUIC stream without holding the runtime borrowed. Runtimes feed them through bounded
//! channels: a slow hub (QUIC flow control) slows the runtime's reader down instead of growing
//! memory, and dropping the stream stops the runtime side (a followed log stops following).

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use super::RuntimeError;

/// How many chunks a runtime may buffer ahead of the reader of a log or exec stream.
pub const STREAM_BUFFER_CHUNKS: usize = 16;

/// Which part of a container's log to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep reading new output until the reader goes away or the container stops.
    pub follow: bool,
    /// Only the last this many lines.
    pub tail_lines: Option<u64>,
    /// Only output written at or after this time (ms since the Unix epoch).
    pub since_ms: Option<u64>,
    /// The previous run of the container instead of the current one.
    pub previous: bool,
    /// Prefix each line with its RFC 3339 timestamp (as kubelet does).
    pub timestamps: bool,
}

/// Log output: stdout and stderr merged, in the order the runtime recorded them.
pub type LogStream = BoxStream<'static, Result<Vec<u8>, RuntimeError>>;

/// A command to run in a running container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// One piece of an exec session's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecChunk {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// Input to a running exec session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecStdin {
    Data(Vec<u8>),
    /// End of file.
    Close,
}

/// A running exec session.
pub struct ExecSession {
    /// Output until the command ends.
    pub output: BoxStream<'static, Result<ExecChunk, RuntimeError>>,
    /// Feeds the command's stdin (when the spec asked for stdin); bounded. Dropping it closes
    /// stdin too.
    pub stdin: Option<futures::channel::mpsc::Sender<ExecStdin>>,
    /// Resizes the session's terminal to (width, height) (tty sessions of runtimes that can).
    pub resize: Option<futures::channel::mpsc::Sender<(u16, u16)>>,
    /// The command's exit code; poll it after `output` has ended.
    pub exit_code: BoxFuture<'static, Result<i32, RuntimeError>>,
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSession")
            .field("stdin", &self.stdin.is_some())
            .finish_non_exhaustive()
    }
}
