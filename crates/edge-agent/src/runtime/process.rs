//! [`ProcessRuntime`]: `runtimeClassName: process`, for devices without Podman. Each container
//! runs its `command` + `args` as a plain host process, with its environment, working
//! directory and volumes; the image is not used (the program must exist on the device).
//!
//! Layout, under `<data_dir>/process/<uid>/` (removed with the pod):
//!
//! ```text
//! pod.json                         namespace, name, creation time
//! plan.json                        the pod's plan (commands and environment, for restarts)
//! volumes/<name>/                  emptyDir and projected (ConfigMap/Secret) volumes
//! containers/<name>/state.json     pid, process start time (to tell pid reuse), init flag
//! containers/<name>/exit           exit code, written by the wrapper when the program ends
//! containers/<name>/log            stdout and stderr
//! ```
//!
//! Design:
//! - **A wrapper shell records the exit code.** The program runs under `/bin/sh` as a child
//!   of a small wrapper that forwards SIGTERM and writes the exit code to `exit`. The agent may
//!   restart (or die) while programs run; a new agent adopts them from `state.json` (pid plus
//!   the kernel's start time of that pid, so a recycled pid is never mistaken for ours) and
//!   still learns how they ended.
//! - **One process group per container**, led by the wrapper: stopping signals the group
//!   (SIGTERM, then SIGKILL after the grace period), so children of the program go too. A
//!   group killed before the wrapper could write `exit` reads as exit code 137 (killed).
//! - **Volumes by bind mounts in a private mount namespace** (`unshare -m`, root only): the
//!   program sees its volumes at their `mountPath`s, the host's mount table is untouched
//!   (mount points that do not exist are created as empty directories or files).
//! - Pods share the host network: the pod IP is the node's address.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::FutureExt;
use serde::{Deserialize, Serialize};
use shoal_transport::wire::{ContainerPlan, PodPlan, VolumePlan};
use tracing::{debug, info};

use super::podman::spec;
use super::{
    projected, ContainerRuntime, ContainerUsage, ObservedContainer, ObservedPod, ObservedState,
    RuntimeError, RuntimeFuture,
};

/// The wrapper: runs `"$@"` in the background, forwards SIGTERM, waits for the real exit,
/// records the code in `$1`.
const WRAPPER: &str = r#"exit_file=$1; shift
"$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null' TERM
while :; do
  wait $child; code=$?
  kill -0 $child 2>/dev/null || break
done
echo $code > "$exit_file.tmp" && mv "$exit_file.tmp" "$exit_file"
exit $code"#;

/// Sets up bind mounts (triples of source, target, ro|rw until `--`), then execs the rest.
const MOUNTS: &str = r#"while [ "$1" != "--" ]; do
  src=$1; dst=$2; mode=$3; shift 3
  if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; [ -e "$dst" ] || : > "$dst"; fi
  mount --bind "$src" "$dst" || exit 126
  if [ "$mode" = ro ]; then mount -o remount,bind,ro "$dst" || exit 126; fi
done
shift
exec "$@""#;

/// PATH of the programs when the pod sets none (the usual Linux default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How often `stop` looks whether the processes are gone.
const STOP_POLL: Duration = Duration::from_millis(100);
/// Size above which a container's log is rotated: when it (re)starts, and while it runs.
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;
/// Output an exec probe keeps.
const PROBE_OUTPUT_LIMIT: usize = 10 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct PodRecord {
    namespace: String,
    name: String,
    created_at_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ContainerRecord {
    pid: i32,
    /// Field 22 of `/proc/<pid>/stat`: when the kernel started that pid.
    start_ticks: u64,
    started_at_ms: u64,
    init: bool,
}

/// Runs pods as host processes.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    root: PathBuf,
    node_ip: String,
}

impl ProcessRuntime {
    /// Pods live under `<data_dir>/process/`; `node_ip` is every pod's IP.
    pub fn new(data_dir: &Path, node_ip: impl Into<String>) -> Self {
        ProcessRuntime {
            root: data_dir.join("process"),
            node_ip: node_ip.into(),
        }
    }

    fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root.join(uid)
    }

    fn container_dir(&self, uid: &str, name: &str) -> PathBuf {
        self.pod_dir(uid).join("containers").join(name)
    }

    fn volume_dir(&self, uid: &str, name: &str) -> PathBuf {
        self.pod_dir(uid).join("volumes").join(name)
    }

    fn fs_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RuntimeError {
        let path = path.to_path_buf();
        move |source| RuntimeError::Filesystem { op, path, source }
    }

    /// Creates the pod's directories and volumes. Idempotent.
    fn prepare(&self, plan: &PodPlan) -> Result<(), RuntimeError> {
        spec::validate(plan)?;
        let dir = self.pod_dir(&plan.uid);
        std::fs::create_dir_all(dir.join("containers")).map_err(Self::fs_err("create", &dir))?;
        // The plan itself, for restarts (the command and environment are not on disk otherwise).
        write_json(&dir.join("plan.json"), plan)?;
        let record = dir.join("pod.json");
        if !record.exists() {
            let r = PodRecord {
                namespace: plan.namespace.clone(),
                name: plan.name.clone(),
                created_at_ms: shoal_transport::status::now_ms(),
            };
            write_json(&record, &r)?;
        }
        for v in &plan.volumes {
            match v {
                VolumePlan::EmptyDir { name, .. } => {
                    let d = self.volume_dir(&plan.uid, name);
                    std::fs::create_dir_all(&d).map_err(Self::fs_err("create", &d))?;
                }
                VolumePlan::Files { name, files } => {
                    let d = self.volume_dir(&plan.uid, name);
                    projected::write(&d, files)
                        .map_err(Self::fs_err("write projected volume", &d))?;
                }
                VolumePlan::HostPath { path, kind, name } => {
                    let p = Path::new(path);
                    match kind.as_str() {
                        "DirectoryOrCreate" => {
                            std::fs::create_dir_all(p).map_err(Self::fs_err("create", p))?
                        }
                        "FileOrCreate" if !p.exists() => {
                            std::fs::File::create(p).map_err(Self::fs_err("create", p))?;
                        }
                        "Directory" | "File" if !p.exists() => {
                            return Err(RuntimeError::InvalidPlan {
                                uid: plan.uid.clone(),
                                reason: format!(
                                    "hostPath volume {name}: {path} does not exist on this node"
                                ),
                            })
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// (source, target, read-only) of each mount of `c`.
    fn mounts(
        &self,
        plan: &PodPlan,
        c: &ContainerPlan,
    ) -> Result<Vec<(PathBuf, String, bool)>, RuntimeError> {
        let mut out = Vec::new();
        for m in &c.volume_mounts {
            let v = plan
                .volumes
                .iter()
                .find(|v| spec::volume_name(v) == m.name)
                .ok_or_else(|| RuntimeError::InvalidPlan {
                    uid: plan.uid.clone(),
                    reason: format!(
                        "container {} mounts volume {:?}, which the pod does not declare",
                        c.name, m.name
                    ),
                })?;
            let (base, ro) = match v {
                VolumePlan::HostPath { path, .. } => (PathBuf::from(path), m.read_only),
                VolumePlan::EmptyDir { name, .. } => {
                    (self.volume_dir(&plan.uid, name), m.read_only)
                }
                VolumePlan::Files { name, .. } => (self.volume_dir(&plan.uid, name), true),
            };
            let safe_sub = Path::new(&m.sub_path)
                .components()
                .all(|p| matches!(p, std::path::Component::Normal(_)));
            if !safe_sub || !Path::new(&m.mount_path).is_absolute() {
                return Err(RuntimeError::InvalidPlan {
                    uid: plan.uid.clone(),
                    reason: format!(
                        "mount {:?} of container {} is not safe",
                        m.mount_path, c.name
                    ),
                });
            }
            let source = if m.sub_path.is_empty() {
                base
            } else {
                base.join(&m.sub_path)
            };
            out.push((source, m.mount_path.clone(), ro));
        }
        Ok(out)
    }

    /// Starts container `c` of `plan` (again, if it ran before).
    async fn spawn(
        &self,
        plan: &PodPlan,
        c: &ContainerPlan,
        init: bool,
    ) -> Result<(), RuntimeError> {
        if c.command.is_empty() {
            return Err(RuntimeError::InvalidPlan {
                uid: plan.uid.clone(),
                reason: format!("container {}: the process runtime runs `command` and has no image entrypoint; set command", c.name),
            });
        }
        let dir = self.container_dir(&plan.uid, &c.name);
        std::fs::create_dir_all(&dir).map_err(Self::fs_err("create", &dir))?;
        let exit_file = dir.join("exit");
        let _ = std::fs::remove_file(&exit_file);
        // Design: a container's log is bounded per run: at each (re)start a log over
        // LOG_ROTATE_BYTES moves to `log.1`, replacing the older one.
        let log_path = dir.join("log");
        if std::fs::metadata(&log_path).is_ok_and(|m| m.len() > LOG_ROTATE_BYTES) {
            let _ = std::fs::rename(&log_path, dir.join("log.1"));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .map_err(Self::fs_err("open log", &dir))?;
        let log2 = log.try_clone().map_err(Self::fs_err("open log", &dir))?;
        let mounts = self.mounts(plan, c)?;
        let mut argv: Vec<String> = Vec::new();
        if !mounts.is_empty() {
            argv.extend([
                "unshare".into(),
                "-m".into(),
                "--propagation".into(),
                "private".into(),
            ]);
            argv.extend([
                "/bin/sh".into(),
                "-c".into(),
                MOUNTS.into(),
                "shoal-mounts".into(),
            ]);
            for (src, dst, ro) in &mounts {
                argv.push(src.to_string_lossy().into_owned());
                argv.push(dst.clone());
                argv.push(if *ro { "ro" } else { "rw" }.into());
            }
            argv.push("--".into());
        }
        argv.extend([
            "/bin/sh".into(),
            "-c".into(),
            WRAPPER.into(),
            "shoal-wrapper".into(),
        ]);
        argv.push(exit_file.to_string_lossy().into_owned());
        argv.extend(c.command.iter().cloned());
        argv.extend(c.args.iter().cloned());
        let workdir = if c.working_dir.is_empty() {
            self.pod_dir(&plan.uid)
        } else {
            PathBuf::from(&c.working_dir)
        };
        std::fs::create_dir_all(&workdir)
            .map_err(Self::fs_err("create working directory", &workdir))?;
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .env("PATH", DEFAULT_PATH)
            .env(
                "HOSTNAME",
                if plan.hostname.is_empty() {
                    &plan.name
                } else {
                    &plan.hostname
                },
            )
            .envs(c.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .process_group(0)
            .kill_on_drop(false);
        let mut child = cmd.spawn().map_err(|source| RuntimeError::Filesystem {
            op: "start process",
            path: PathBuf::from(&argv[0]),
            source,
        })?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let record = ContainerRecord {
            pid,
            start_ticks: start_ticks(pid).unwrap_or(0),
            started_at_ms: shoal_transport::status::now_ms(),
            init,
        };
        write_json(&dir.join("state.json"), &record)?;
        // Reap the wrapper when it ends (an agent that restarts leaves that to init).
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        info!(uid = %plan.uid, container = %c.name, pid, "started process");
        Ok(())
    }

    fn record(&self, uid: &str, name: &str) -> Option<ContainerRecord> {
        read_json(&self.container_dir(uid, name).join("state.json"))
    }

    fn observe_container(&self, uid: &str, name: &str) -> Option<ObservedContainer> {
        let dir = self.container_dir(uid, name);
        let r = self.record(uid, name)?;
        let state = if alive(&r) {
            ObservedState::Running {
                started_at_ms: r.started_at_ms,
            }
        } else {
            let exit = dir.join("exit");
            let code = std::fs::read_to_string(&exit)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
                .unwrap_or(137);
            let finished = std::fs::metadata(&exit)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(r.started_at_ms, |d| d.as_millis() as u64);
            ObservedState::Exited {
                exit_code: code,
                started_at_ms: r.started_at_ms,
                finished_at_ms: finished.max(r.started_at_ms),
                oom_killed: false,
            }
        };
        Some(ObservedContainer {
            name: name.to_string(),
            id: format!("process://{uid}/{name}/{}", r.pid),
            image: String::new(),
            image_id: String::new(),
            state,
            init: r.init,
            restart_count: 0,
        })
    }

    fn container_names(&self, uid: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.pod_dir(uid).join("containers")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    fn uids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|u| spec::is_valid_uid(u))
            .collect()
    }

    async fn stop_one(&self, uid: &str, name: &str, grace: Duration) {
        let Some(r) = self.record(uid, name).filter(alive) else {
            return;
        };
        signal_group(r.pid, rustix::process::Signal::TERM);
        let deadline = tokio::time::Instant::now() + grace;
        while alive(&r) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(STOP_POLL).await;
        }
        if alive(&r) {
            signal_group(r.pid, rustix::process::Signal::KILL);
            let settle = tokio::time::Instant::now() + Duration::from_secs(5);
            while alive(&r) && tokio::time::Instant::now() < settle {
                tokio::time::sleep(STOP_POLL).await;
            }
        }
    }

    fn list(&self) -> Vec<ObservedPod> {
        self.uids()
            .into_iter()
            .filter_map(|uid| {
                let rec: PodRecord = read_json(&self.pod_dir(&uid).join("pod.json"))?;
                let containers = self
                    .container_names(&uid)
                    .iter()
                    .filter_map(|n| self.observe_container(&uid, n))
                    .collect();
                let file_volumes = std::fs::read_dir(self.pod_dir(&uid).join("volumes"))
                    .into_iter()
                    .flatten()
                    .filter_map(|e| {
                        let e = e.ok()?;
                        Some((
                            e.file_name().into_string().ok()?,
                            projected::observe(&e.path())?,
                        ))
                    })
                    .collect();
                Some(ObservedPod {
                    uid: uid.clone(),
                    namespace: rec.namespace,
                    name: rec.name,
                    pod_ip: Some(self.node_ip.clone()).filter(|ip| !ip.is_empty()),
                    created_at_ms: Some(rec.created_at_ms),
                    containers,
                    file_volumes,
                })
            })
            .collect()
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RuntimeError> {
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| RuntimeError::Filesystem {
            op: "write",
            path: path.to_path_buf(),
            source,
        })
}

/// Bounds a running program's log: past `limit` bytes, its content is copied to `log.1` and
/// the file truncated in place (logrotate's copytruncate). The program keeps the `O_APPEND`
/// descriptor it got at start, which must outlive agent restarts, so the file cannot be
/// renamed under it; with `O_APPEND` its next write lands at the new end. Lines written
/// between the copy and the truncation are lost. At most about `2 x limit` per container
/// stays on disk, plus what is written between two status passes.
fn rotate_live_log(dir: &Path, limit: u64) {
    let log = dir.join("log");
    if !std::fs::metadata(&log).is_ok_and(|m| m.len() > limit) {
        return;
    }
    let rotated = std::fs::copy(&log, dir.join("log.1")).and_then(|_| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)?
            .set_len(0)
    });
    match rotated {
        Ok(()) => debug!(dir = %dir.display(), "rotated a running container's log"),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot rotate a container's log")
        }
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Field 22 (starttime) of `/proc/<pid>/stat`.
fn start_ticks(pid: i32) -> Option<u64> {
    proc_stat_fields(pid)?.get(19)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command name (field 3 onwards).
fn proc_stat_fields(pid: i32) -> Option<Vec<String>> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The wrapper of this record still runs (same pid, same start time, not a zombie).
fn alive(r: &ContainerRecord) -> bool {
    match proc_stat_fields(r.pid) {
        Some(f) => {
            f.first().map(String::as_str) != Some("Z")
                && f.get(19).and_then(|t| t.parse::<u64>().ok()) == Some(r.start_ticks)
        }
        None => false,
    }
}

fn signal_group(pid: i32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        if let Err(e) = rustix::process::kill_process_group(pid, signal) {
            debug!(pid = pid.as_raw_nonzero().get(), error = %e, "signalling a process group failed");
        }
    }
}

/// CPU ns and resident bytes of every process in the group led by `pgid`.
fn group_usage(pgid: i32) -> (u64, u64) {
    const TICK_NS: u64 = 10_000_000; // USER_HZ = 100
    const PAGE: u64 = 4096;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    let (mut cpu, mut mem) = (0u64, 0u64);
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some(f) = proc_stat_fields(pid) else {
            continue;
        };
        if f.get(2).and_then(|g| g.parse::<i32>().ok()) != Some(pgid) {
            continue;
        }
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        cpu += (num(11) + num(12)) * TICK_NS;
        mem += num(21) * PAGE;
    }
    (cpu, mem)
}

impl ContainerRuntime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    fn version(&self) -> RuntimeFuture<'_, String> {
        async { Ok(env!("CARGO_PKG_VERSION").to_string()) }.boxed()
    }

    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move {
            self.prepare(plan)?;
            for c in plan.containers.iter().filter(|c| c.config_error.is_empty()) {
                if self.record(&plan.uid, &c.name).is_none() {
                    self.spawn(plan, c, false).await?;
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn start_init_container<'a>(
        &'a self,
        plan: &'a PodPlan,
        container: &'a str,
    ) -> RuntimeFuture<'a, ()> {
        async move {
            self.prepare(plan)?;
            let c = plan
                .init_containers
                .iter()
                .find(|c| c.name == container)
                .ok_or_else(|| RuntimeError::ContainerNotFound {
                    uid: plan.uid.clone(),
                    container: container.to_string(),
                })?;
            if self.record(&plan.uid, container).is_none() {
                self.spawn(plan, c, true).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn sync_volumes<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move { self.prepare(plan) }.boxed()
    }

    fn stop_container<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        grace: Duration,
    ) -> RuntimeFuture<'a, ()> {
        async move {
            self.stop_one(uid, container, grace).await;
            Ok(())
        }
        .boxed()
    }

    fn probe_exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        command: &'a [String],
        timeout: Duration,
    ) -> RuntimeFuture<'a, (i32, String)> {
        async move {
            let Some((program, args)) = command.split_first() else {
                return Ok((126, "empty command".into()));
            };
            if self.record(uid, container).is_none() {
                return Err(RuntimeError::ContainerNotFound {
                    uid: uid.to_string(),
                    container: container.to_string(),
                });
            }
            let run = tokio::process::Command::new(program)
                .args(args)
                .current_dir(self.pod_dir(uid))
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(timeout, run).await {
                Ok(Ok(out)) => {
                    let mut text = out.stdout;
                    text.extend_from_slice(&out.stderr);
                    text.truncate(PROBE_OUTPUT_LIMIT);
                    Ok((
                        out.status.code().unwrap_or(137),
                        String::from_utf8_lossy(&text).into_owned(),
                    ))
                }
                Ok(Err(e)) => Ok((127, e.to_string())),
                Err(_) => Ok((124, format!("timed out after {timeout:?}"))),
            }
        }
        .boxed()
    }

    fn restart_container<'a>(&'a self, uid: &'a str, container: &'a str) -> RuntimeFuture<'a, ()> {
        async move {
            let not_found = || RuntimeError::ContainerNotFound {
                uid: uid.to_string(),
                container: container.to_string(),
            };
            let plan: PodPlan =
                read_json(&self.pod_dir(uid).join("plan.json")).ok_or_else(not_found)?;
            let (c, init) = match plan.containers.iter().find(|c| c.name == container) {
                Some(c) => (c, false),
                None => (
                    plan.init_containers
                        .iter()
                        .find(|c| c.name == container)
                        .ok_or_else(not_found)?,
                    true,
                ),
            };
            let grace = Duration::from_secs(plan.termination_grace_period_seconds);
            self.stop_one(uid, container, grace).await;
            self.spawn(&plan, c, init).await
        }
        .boxed()
    }

    fn stop_pod<'a>(&'a self, uid: &'a str, grace: Duration) -> RuntimeFuture<'a, ()> {
        async move {
            let names = self.container_names(uid);
            futures::future::join_all(names.iter().map(|n| self.stop_one(uid, n, grace))).await;
            Ok(())
        }
        .boxed()
    }

    fn remove_pod<'a>(&'a self, uid: &'a str) -> RuntimeFuture<'a, ()> {
        async move {
            if !spec::is_valid_uid(uid) {
                return Ok(());
            }
            for n in self.container_names(uid) {
                self.stop_one(uid, &n, Duration::from_secs(30)).await;
            }
            let dir = self.pod_dir(uid);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(RuntimeError::Filesystem {
                    op: "remove pod directory",
                    path: dir,
                    source,
                }),
            }
        }
        .boxed()
    }

    fn container_usage(&self) -> RuntimeFuture<'_, Vec<ContainerUsage>> {
        async move {
            let mut out = Vec::new();
            for pod in self.list() {
                for c in &pod.containers {
                    let Some(r) = self.record(&pod.uid, &c.name).filter(alive) else {
                        continue;
                    };
                    let (cpu, mem) = group_usage(r.pid);
                    out.push(ContainerUsage {
                        uid: pod.uid.clone(),
                        namespace: pod.namespace.clone(),
                        pod: pod.name.clone(),
                        container: c.name.clone(),
                        cpu_total_ns: cpu,
                        memory_bytes: mem,
                    });
                }
            }
            Ok(out)
        }
        .boxed()
    }

    fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>> {
        async move {
            let pods = self.list();
            // Running programs' logs are bounded on each status pass; a rotation copies up to
            // LOG_ROTATE_BYTES, so it runs on the blocking pool, not the agent's executor.
            let logs: Vec<PathBuf> = pods
                .iter()
                .flat_map(|p| {
                    p.containers
                        .iter()
                        .filter(|c| matches!(c.state, ObservedState::Running { .. }))
                        .map(|c| self.container_dir(&p.uid, &c.name))
                })
                .collect();
            let _ = tokio::task::spawn_blocking(move || {
                for dir in logs {
                    rotate_live_log(&dir, LOG_ROTATE_BYTES);
                }
            })
            .await;
            Ok(pods)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_running_programs_log_is_rotated_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_path = dir.path().join("log");
        // The program's descriptor, opened as `spawn` opens it.
        let mut program = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open");
        program.write_all(&[b'a'; 100]).expect("write");

        rotate_live_log(dir.path(), 200);
        assert_eq!(
            std::fs::metadata(&log_path).expect("log").len(),
            100,
            "under the limit: kept"
        );
        assert!(!dir.path().join("log.1").exists());

        rotate_live_log(dir.path(), 50);
        assert_eq!(
            std::fs::read(dir.path().join("log.1")).expect("log.1"),
            vec![b'a'; 100]
        );
        assert_eq!(std::fs::metadata(&log_path).expect("log").len(), 0);

        // The program writes on through its old descriptor, at the new end (no hole).
        program.write_all(b"next line\n").expect("write");
        assert_eq!(std::fs::read(&log_path).expect("log"), b"next line\n");
    }
}
