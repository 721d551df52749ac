//! An in-memory [`ContainerRuntime`] for logic tests: it "runs" pods by recording them, lets a
//! test decide what happens to their containers, and remembers every call it got.
//!
//! It is deliberately dumb: containers run until the test says they exit
//! ([`FakeRuntime::exit_container`]), time is whatever the test sets
//! ([`FakeRuntime::set_clock_ms`]), and failures happen only when asked for. Scale tests want
//! the simulated runtime instead (a later piece), which models a whole device.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use shoal_transport::wire::{ContainerPlan, PodPlan, PullPolicy};

use super::{
    ContainerRuntime, ExecChunk, ExecSession, ExecSpec, ExecStdin, LogOptions, LogStream,
    ObservedContainer, ObservedPod, ObservedState, RuntimeError, RuntimeFuture,
    STREAM_BUFFER_CHUNKS,
};

/// A runtime call the fake received, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeCall {
    StartPod { uid: String },
    StartInit { uid: String, container: String },
    SyncVolumes { uid: String },
    StopContainer { uid: String, container: String },
    RestartContainer { uid: String, container: String },
    StopPod { uid: String, grace: Duration },
    RemovePod { uid: String },
}

/// In-memory runtime with knobs. Cheap to clone the observations out of; safe to share
/// (`Arc<FakeRuntime>` coerces to `Arc<dyn ContainerRuntime>`).
#[derive(Debug, Default)]
pub struct FakeRuntime {
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    clock_ms: u64,
    next_id: u64,
    pods: BTreeMap<String, ObservedPod>,
    /// Images that are "not on the device" (everything else is).
    missing_images: BTreeSet<String>,
    /// Container names whose start fails (they stay `Created`).
    failing_starts: BTreeSet<String>,
    /// Exit codes of exec probes by container name (0 when not set).
    probe_exits: BTreeMap<String, i32>,
    calls: Vec<FakeCall>,
    /// Log output per (pod UID, container name).
    logs: BTreeMap<(String, String), Vec<u8>>,
}

impl FakeRuntime {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        // Design: a test that panicked while holding the lock has failed already; the data is
        // still consistent (every mutation is a single step), so keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the fake's clock; containers started or exiting from now on carry this time.
    pub fn set_clock_ms(&self, now_ms: u64) {
        self.lock().clock_ms = now_ms;
    }

    /// Makes a running container exit with `exit_code`. Returns false if there is no such
    /// container.
    pub fn exit_container(&self, uid: &str, container: &str, exit_code: i32) -> bool {
        self.finish(uid, container, exit_code, false)
    }

    /// Makes a container die as if the kernel's OOM killer got it (exit code 137).
    pub fn oom_kill_container(&self, uid: &str, container: &str) -> bool {
        self.finish(uid, container, 137, true)
    }

    fn finish(&self, uid: &str, container: &str, exit_code: i32, oom_killed: bool) -> bool {
        let mut st = self.lock();
        let now = st.clock_ms;
        let Some(c) = st
            .pods
            .get_mut(uid)
            .and_then(|p| p.containers.iter_mut().find(|c| c.name == container))
        else {
            return false;
        };
        let started_at_ms = match c.state {
            ObservedState::Running { started_at_ms } => started_at_ms,
            _ => 0,
        };
        c.state = ObservedState::Exited {
            exit_code,
            started_at_ms,
            finished_at_ms: now,
            oom_killed,
        };
        true
    }

    /// Pretends `image` is not on the device: pull policy `Never` then fails with
    /// [`RuntimeError::ImageNotPresent`], other policies "pull" it.
    pub fn remove_image(&self, image: &str) {
        self.lock().missing_images.insert(image.to_string());
    }

    /// Makes starting any container called `container` fail (`fail = true`) or work again.
    pub fn set_fail_start(&self, container: &str, fail: bool) {
        let mut st = self.lock();
        if fail {
            st.failing_starts.insert(container.to_string());
        } else {
            st.failing_starts.remove(container);
        }
    }

    /// Makes exec probes in containers called `container` exit with `code`.
    pub fn set_probe_exit(&self, container: &str, code: i32) {
        self.lock().probe_exits.insert(container.to_string(), code);
    }

    /// Puts a pod in the runtime as if it had been there all along (e.g. survived a reboot).
    pub fn insert_pod(&self, pod: ObservedPod) {
        self.lock().pods.insert(pod.uid.clone(), pod);
    }

    /// Appends `bytes` to the log of a container (what [`ContainerRuntime::logs`] returns).
    pub fn append_log(&self, uid: &str, container: &str, bytes: &[u8]) {
        self.lock()
            .logs
            .entry((uid.to_string(), container.to_string()))
            .or_default()
            .extend_from_slice(bytes);
    }

    fn container_state(&self, uid: &str, container: &str) -> Result<ObservedState, RuntimeError> {
        self.lock()
            .pods
            .get(uid)
            .and_then(|p| p.container(container))
            .map(|c| c.state)
            .ok_or_else(|| RuntimeError::ContainerNotFound {
                uid: uid.to_string(),
                container: container.to_string(),
            })
    }

    /// The fake's log: everything appended (or its last `tail_lines` lines); it never follows.
    fn logs_now(
        &self,
        uid: &str,
        container: &str,
        opts: &LogOptions,
    ) -> Result<LogStream, RuntimeError> {
        self.container_state(uid, container)?;
        let log = self
            .lock()
            .logs
            .get(&(uid.to_string(), container.to_string()))
            .cloned()
            .unwrap_or_default();
        let log = match opts.tail_lines {
            Some(n) => {
                let lines: Vec<&[u8]> = log.split_inclusive(|b| *b == b'\n').collect();
                let skip = lines
                    .len()
                    .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
                lines[skip..].concat()
            }
            None => log,
        };
        Ok(futures::stream::iter([Ok(log)]).boxed())
    }

    /// The fake's exec: writes the command line to stdout, then echoes stdin; exits with 0.
    fn exec_now(
        &self,
        uid: &str,
        container: &str,
        spec: &ExecSpec,
    ) -> Result<ExecSession, RuntimeError> {
        if !self.container_state(uid, container)?.is_running() {
            return Err(RuntimeError::ContainerNotRunning {
                uid: uid.to_string(),
                container: container.to_string(),
            });
        }
        let first = futures::stream::iter([Ok(ExecChunk::Stdout(
            format!("{}\n", spec.command.join(" ")).into_bytes(),
        ))]);
        let (stdin, output) = if spec.stdin {
            let (tx, rx) = futures::channel::mpsc::channel(STREAM_BUFFER_CHUNKS);
            let echo = rx
                .take_while(|i| futures::future::ready(*i != ExecStdin::Close))
                .filter_map(|i| async move {
                    match i {
                        ExecStdin::Data(b) => Some(Ok(ExecChunk::Stdout(b))),
                        ExecStdin::Close => None,
                    }
                });
            (Some(tx), first.chain(echo).boxed())
        } else {
            (None, first.boxed())
        };
        Ok(ExecSession {
            output,
            stdin,
            resize: None,
            exit_code: futures::future::ready(Ok(0)).boxed(),
        })
    }

    /// Every call received so far, oldest first.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.lock().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    fn start_pod_now(&self, plan: &PodPlan) -> Result<(), RuntimeError> {
        let mut st = self.lock();
        st.calls.push(FakeCall::StartPod {
            uid: plan.uid.clone(),
        });
        let apps: Vec<&ContainerPlan> = plan
            .containers
            .iter()
            .filter(|c| c.config_error.is_empty())
            .collect();
        st.create(plan, &apps, false)?;
        st.start_created(plan, &apps)
    }

    fn start_init_now(&self, plan: &PodPlan, container: &str) -> Result<(), RuntimeError> {
        let mut st = self.lock();
        st.calls.push(FakeCall::StartInit {
            uid: plan.uid.clone(),
            container: container.to_string(),
        });
        let init: Vec<&ContainerPlan> = plan
            .init_containers
            .iter()
            .filter(|c| c.name == container)
            .collect();
        if init.is_empty() {
            return Err(RuntimeError::ContainerNotFound {
                uid: plan.uid.clone(),
                container: container.to_string(),
            });
        }
        st.create(plan, &init, true)?;
        st.start_created(plan, &init)
    }

    fn sync_volumes_now(&self, plan: &PodPlan) {
        let mut st = self.lock();
        st.calls.push(FakeCall::SyncVolumes {
            uid: plan.uid.clone(),
        });
        if let Some(pod) = st.pods.get_mut(&plan.uid) {
            pod.file_volumes = super::projected::plan_digests(plan);
        }
    }

    fn restart_now(&self, uid: &str, container: &str) -> Result<(), RuntimeError> {
        let mut st = self.lock();
        st.calls.push(FakeCall::RestartContainer {
            uid: uid.to_string(),
            container: container.to_string(),
        });
        let now = st.clock_ms;
        let fail = st.failing_starts.contains(container);
        let not_found = || RuntimeError::ContainerNotFound {
            uid: uid.to_string(),
            container: container.to_string(),
        };
        let c = st
            .pods
            .get_mut(uid)
            .and_then(|p| p.containers.iter_mut().find(|c| c.name == container))
            .ok_or_else(not_found)?;
        if fail {
            return Err(RuntimeError::Injected {
                op: format!("restart container {container} of pod {uid}"),
            });
        }
        c.state = ObservedState::Running { started_at_ms: now };
        c.restart_count = c.restart_count.saturating_add(1);
        Ok(())
    }

    fn stop_now(&self, uid: &str, grace: Duration) {
        let mut st = self.lock();
        st.calls.push(FakeCall::StopPod {
            uid: uid.to_string(),
            grace,
        });
        let now = st.clock_ms;
        if let Some(pod) = st.pods.get_mut(uid) {
            for c in &mut pod.containers {
                if let ObservedState::Running { started_at_ms } = c.state {
                    // SIGTERM, as a well-behaved process would exit on it.
                    c.state = ObservedState::Exited {
                        exit_code: 143,
                        started_at_ms,
                        finished_at_ms: now,
                        oom_killed: false,
                    };
                }
            }
        }
    }

    fn remove_now(&self, uid: &str) {
        let mut st = self.lock();
        st.calls.push(FakeCall::RemovePod {
            uid: uid.to_string(),
        });
        st.pods.remove(uid);
    }
}

impl FakeState {
    /// Creates the pod (if needed) and the listed containers that do not exist yet.
    fn create(
        &mut self,
        plan: &PodPlan,
        containers: &[&ContainerPlan],
        init: bool,
    ) -> Result<(), RuntimeError> {
        for c in containers {
            if c.image_pull_policy == PullPolicy::Never && self.missing_images.contains(&c.image) {
                return Err(RuntimeError::ImageNotPresent {
                    image: c.image.clone(),
                });
            }
        }
        let now = self.clock_ms;
        let FakeState {
            pods,
            next_id,
            missing_images,
            ..
        } = self;
        for c in containers {
            missing_images.remove(&c.image); // "pulled"
        }
        let pod = pods.entry(plan.uid.clone()).or_insert_with(|| ObservedPod {
            uid: plan.uid.clone(),
            namespace: plan.namespace.clone(),
            name: plan.name.clone(),
            pod_ip: Some(format!(
                "10.88.{}.{}",
                (*next_id / 250) % 250,
                *next_id % 250 + 2
            )),
            created_at_ms: Some(now),
            containers: Vec::new(),
            file_volumes: super::projected::plan_digests(plan),
        });
        for c in containers {
            if pod.container(&c.name).is_none() {
                *next_id += 1;
                pod.containers.push(ObservedContainer {
                    name: c.name.clone(),
                    id: format!("fake://{:016x}", *next_id),
                    image: c.image.clone(),
                    image_id: format!("sha256:{:064x}", c.image.len()),
                    state: ObservedState::Created,
                    init,
                    restart_count: 0,
                });
            }
        }
        Ok(())
    }

    /// Starts the listed containers that were created but never started.
    fn start_created(
        &mut self,
        plan: &PodPlan,
        containers: &[&ContainerPlan],
    ) -> Result<(), RuntimeError> {
        let now = self.clock_ms;
        let mut failed = None;
        let FakeState {
            pods,
            failing_starts,
            ..
        } = self;
        let Some(pod) = pods.get_mut(&plan.uid) else {
            return Ok(());
        };
        for c in &mut pod.containers {
            if c.state != ObservedState::Created || !containers.iter().any(|p| p.name == c.name) {
                continue;
            }
            if failing_starts.contains(&c.name) {
                failed.get_or_insert_with(|| c.name.clone());
            } else {
                c.state = ObservedState::Running { started_at_ms: now };
            }
        }
        match failed {
            Some(name) => Err(RuntimeError::Injected {
                op: format!("start container {name} of pod {}", plan.uid),
            }),
            None => Ok(()),
        }
    }
}

impl ContainerRuntime for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn version(&self) -> RuntimeFuture<'_, String> {
        async { Ok(env!("CARGO_PKG_VERSION").to_string()) }.boxed()
    }

    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move { self.start_pod_now(plan) }.boxed()
    }

    fn start_init_container<'a>(
        &'a self,
        plan: &'a PodPlan,
        container: &'a str,
    ) -> RuntimeFuture<'a, ()> {
        async move { self.start_init_now(plan, container) }.boxed()
    }

    fn sync_volumes<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move {
            self.sync_volumes_now(plan);
            Ok(())
        }
        .boxed()
    }

    fn stop_container<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        _grace: Duration,
    ) -> RuntimeFuture<'a, ()> {
        async move {
            self.lock().calls.push(FakeCall::StopContainer {
                uid: uid.to_string(),
                container: container.to_string(),
            });
            self.finish(uid, container, 137, false);
            Ok(())
        }
        .boxed()
    }

    fn probe_exec<'a>(
        &'a self,
        _uid: &'a str,
        container: &'a str,
        _command: &'a [String],
        _timeout: Duration,
    ) -> RuntimeFuture<'a, (i32, String)> {
        async move {
            let code = self.lock().probe_exits.get(container).copied().unwrap_or(0);
            Ok((code, String::new()))
        }
        .boxed()
    }

    fn restart_container<'a>(&'a self, uid: &'a str, container: &'a str) -> RuntimeFuture<'a, ()> {
        async move { self.restart_now(uid, container) }.boxed()
    }

    fn stop_pod<'a>(&'a self, uid: &'a str, grace: Duration) -> RuntimeFuture<'a, ()> {
        async move {
            self.stop_now(uid, grace);
            Ok(())
        }
        .boxed()
    }

    fn remove_pod<'a>(&'a self, uid: &'a str) -> RuntimeFuture<'a, ()> {
        async move {
            self.remove_now(uid);
            Ok(())
        }
        .boxed()
    }

    fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>> {
        async move { Ok(self.lock().pods.values().cloned().collect()) }.boxed()
    }

    fn container_usage(&self) -> RuntimeFuture<'_, Vec<super::ContainerUsage>> {
        // A busy container: one core, 1 MiB.
        async move {
            let st = self.lock();
            let pods: Vec<ObservedPod> = st.pods.values().cloned().collect();
            Ok(super::observed::modelled_usage(
                &pods,
                st.clock_ms,
                1_000_000,
                1 << 20,
            ))
        }
        .boxed()
    }

    fn logs<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        opts: LogOptions,
    ) -> RuntimeFuture<'a, LogStream> {
        async move { self.logs_now(uid, container, &opts) }.boxed()
    }

    fn exec<'a>(
        &'a self,
        uid: &'a str,
        container: &'a str,
        spec: ExecSpec,
    ) -> RuntimeFuture<'a, ExecSession> {
        async move { self.exec_now(uid, container, &spec) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shoal_transport::wire::{ContainerPlan, RestartPolicy};

    use super::*;
    use crate::pods::{pod_status, reconcile, Effect, ProbeBook, RestartBook};

    fn plan() -> PodPlan {
        PodPlan {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            restart_policy: RestartPolicy::Always,
            containers: vec![ContainerPlan {
                name: "web".into(),
                image: "busybox".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Carries out effects the way the PodManager will.
    async fn apply(
        rt: &dyn ContainerRuntime,
        effects: Vec<Effect>,
        book: &mut RestartBook,
        now: u64,
    ) {
        for e in effects {
            match e {
                Effect::StartPod(p) => rt.start_pod(&p).await.expect("start"),
                Effect::RestartContainer { uid, container } => {
                    rt.restart_container(&uid, &container)
                        .await
                        .expect("restart");
                    book.record_restart(&uid, &container, now);
                }
                Effect::StopPod { uid, grace } => rt.stop_pod(&uid, grace).await.expect("stop"),
                Effect::StartInit { plan, container } => rt
                    .start_init_container(&plan, &container)
                    .await
                    .expect("init"),
                Effect::SyncVolumes(p) => rt.sync_volumes(&p).await.expect("sync"),
                Effect::KillContainer {
                    uid,
                    container,
                    grace,
                } => rt
                    .stop_container(&uid, &container, grace)
                    .await
                    .expect("kill"),
                Effect::RemovePod { uid, grace } => {
                    rt.stop_pod(&uid, grace).await.expect("stop");
                    rt.remove_pod(&uid).await.expect("remove");
                    book.forget_pod(&uid);
                }
            }
        }
    }

    #[tokio::test]
    async fn crash_loop_through_the_trait_object() {
        let fake = Arc::new(FakeRuntime::new());
        let rt: Arc<dyn ContainerRuntime> = fake.clone();
        let desired = vec![plan()];
        let mut book = RestartBook::new();
        let mut now = 1_000_000;
        fake.set_clock_ms(now);

        let observed = rt.list_pods().await.expect("list");
        apply(
            &*rt,
            reconcile(&desired, &observed, &book, &ProbeBook::new(), now),
            &mut book,
            now,
        )
        .await;
        let observed = rt.list_pods().await.expect("list");
        assert_eq!(
            pod_status(
                &desired[0],
                observed.first(),
                &book,
                &ProbeBook::new(),
                now,
                ""
            )
            .phase,
            "Running"
        );
        assert!(
            reconcile(&desired, &observed, &book, &ProbeBook::new(), now).is_empty(),
            "converged"
        );

        // Crash: restarted at once, then the second crash waits 10 s.
        now += 1000;
        fake.set_clock_ms(now);
        assert!(fake.exit_container("u1", "web", 1));
        let observed = rt.list_pods().await.expect("list");
        apply(
            &*rt,
            reconcile(&desired, &observed, &book, &ProbeBook::new(), now),
            &mut book,
            now,
        )
        .await;
        now += 1000;
        fake.set_clock_ms(now);
        assert!(fake.exit_container("u1", "web", 1));
        let observed = rt.list_pods().await.expect("list");
        assert!(
            reconcile(&desired, &observed, &book, &ProbeBook::new(), now + 9_999).is_empty(),
            "in back-off"
        );
        let st = pod_status(
            &desired[0],
            observed.first(),
            &book,
            &ProbeBook::new(),
            now,
            "",
        );
        assert_eq!(
            st.container_statuses[0]
                .state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.as_deref()),
            Some("CrashLoopBackOff")
        );
        assert_eq!(
            reconcile(&desired, &observed, &book, &ProbeBook::new(), now + 10_000),
            vec![Effect::RestartContainer {
                uid: "u1".into(),
                container: "web".into()
            }]
        );

        // No longer desired: removed.
        let effects = reconcile(&[], &observed, &book, &ProbeBook::new(), now);
        apply(&*rt, effects, &mut book, now).await;
        assert!(rt.list_pods().await.expect("list").is_empty());
        assert!(book.is_empty());
        assert_eq!(
            fake.calls(),
            vec![
                FakeCall::StartPod { uid: "u1".into() },
                FakeCall::RestartContainer {
                    uid: "u1".into(),
                    container: "web".into()
                },
                FakeCall::StopPod {
                    uid: "u1".into(),
                    grace: crate::pods::ORPHAN_GRACE
                },
                FakeCall::RemovePod { uid: "u1".into() },
            ]
        );
    }

    #[tokio::test]
    async fn knobs_fail_start_and_missing_image() {
        let fake = FakeRuntime::new();
        fake.set_fail_start("web", true);
        assert!(matches!(
            fake.start_pod(&plan()).await,
            Err(RuntimeError::Injected { .. })
        ));
        let pods = fake.list_pods().await.expect("list");
        assert_eq!(pods[0].containers[0].state, ObservedState::Created);
        fake.set_fail_start("web", false);
        fake.start_pod(&plan()).await.expect("start works again");
        assert!(fake.list_pods().await.expect("list")[0].containers[0]
            .state
            .is_running());

        let mut never = plan();
        never.uid = "u2".into();
        never.containers[0].image = "missing:1".into();
        never.containers[0].image_pull_policy = PullPolicy::Never;
        fake.remove_image("missing:1");
        assert!(
            matches!(fake.start_pod(&never).await, Err(RuntimeError::ImageNotPresent { image }) if image == "missing:1")
        );
        assert!(matches!(
            fake.restart_container("nope", "web").await,
            Err(RuntimeError::ContainerNotFound { .. })
        ));
        assert!(fake.oom_kill_container("u1", "web"));
        let pods = fake.list_pods().await.expect("list");
        assert!(matches!(
            pods[0].containers[0].state,
            ObservedState::Exited {
                exit_code: 137,
                oom_killed: true,
                ..
            }
        ));
    }
}
