//! A simulated [`ContainerRuntime`] for hollow agents (`shoal-sim`): pods "run" in memory and
//! move through their phases on the wall clock, like a device whose containers take a while to
//! start and sometimes fail.
//!
//! Model ([`SimProfile`]): a started container stays `Created` for a start delay drawn from
//! `[start_delay_min, start_delay_max]`, then becomes `Running`, or, with probability
//! `failure_rate`, `Exited` with code 1 (the pod core then restarts it with back-off, and the
//! restart draws again). Stopping a container exits it with 143 (SIGTERM). Nothing else
//! happens on its own: a running container runs until the agent stops it.
//!
//! Like Podman's, `start_pod` (and `restart_container`) returns once the containers have
//! started (or failed): the call waits out the start delay. The pod core treats a `Created`
//! container as one still to be started, so a runtime that returned early would be asked
//! again and again.
//!
//! Design: state advances lazily. Each pending container carries its due time and outcome; the
//! state is brought up to `now` whenever the agent looks ([`ContainerRuntime::list_pods`]), so
//! idle hollow nodes cost no timers at all. Draws are a hash of (seed, pod UID, container,
//! attempt), not an RNG: a run is reproducible and the state needs no generator. The clock is
//! an input (`*_at(now_ms)`) so the tests drive it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt;
use shoal_transport::status::now_ms;
use shoal_transport::wire::{ContainerPlan, PodPlan};

use super::{
    ContainerRuntime, ObservedContainer, ObservedPod, ObservedState, RuntimeError, RuntimeFuture,
};

/// How simulated containers behave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimProfile {
    /// Shortest time from start to running (or failing).
    pub start_delay_min: Duration,
    /// Longest time from start to running (or failing); below `start_delay_min` means equal.
    pub start_delay_max: Duration,
    /// Share of starts (and restarts) that fail, 0.0 ..= 1.0.
    pub failure_rate: f64,
    /// Seed of the draws; two runtimes with one seed behave alike.
    pub seed: u64,
}

impl Default for SimProfile {
    /// 100 to 500 ms start delays, no failures.
    fn default() -> Self {
        SimProfile {
            start_delay_min: Duration::from_millis(100),
            start_delay_max: Duration::from_millis(500),
            failure_rate: 0.0,
            seed: 0,
        }
    }
}

/// A container that was started and has not reached its due time yet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    due_ms: u64,
    fails: bool,
}

#[derive(Debug, Default)]
struct SimState {
    next_id: u64,
    pods: HashMap<String, ObservedPod>,
    /// (pod UID, container) -> pending start.
    pending: HashMap<(String, String), Pending>,
    /// (pod UID, container) -> starts so far (the attempt number of the next draw).
    attempts: HashMap<(String, String), u32>,
}

/// The simulated runtime. One per hollow node; cheap (a mutex and two maps).
#[derive(Debug, Default)]
pub struct SimulatedRuntime {
    profile: SimProfile,
    state: Mutex<SimState>,
}

impl SimulatedRuntime {
    pub fn new(profile: SimProfile) -> SimulatedRuntime {
        SimulatedRuntime {
            profile,
            state: Mutex::new(SimState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // Design: every mutation is a single step, so a poisoned lock still holds consistent
        // data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A draw in [0, 1) for one start attempt of one container.
    fn draw(&self, uid: &str, container: &str, attempt: u32, salt: u8) -> f64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.profile.seed, uid, container, attempt, salt).hash(&mut h);
        (h.finish() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Schedules the start of one container at `now_ms`; returns when it is due.
    fn schedule(&self, st: &mut SimState, uid: &str, container: &str, now_ms: u64) -> u64 {
        let key = (uid.to_string(), container.to_string());
        let attempt = st.attempts.entry(key.clone()).or_insert(0);
        let n = *attempt;
        *attempt += 1;
        let min = self.profile.start_delay_min.as_millis() as u64;
        let max = (self.profile.start_delay_max.as_millis() as u64).max(min);
        let delay = min + ((max - min) as f64 * self.draw(uid, container, n, 0)) as u64;
        let fails = self.draw(uid, container, n, 1) < self.profile.failure_rate;
        st.pending.insert(
            key,
            Pending {
                due_ms: now_ms + delay,
                fails,
            },
        );
        now_ms + delay
    }

    /// Waits until `due_ms` (wall clock), then brings the state up to date.
    async fn settle(&self, due_ms: u64) {
        let now = now_ms();
        if due_ms > now {
            tokio::time::sleep(Duration::from_millis(due_ms - now)).await;
        }
        Self::advance(&mut self.lock(), now_ms().max(due_ms));
    }

    /// Brings every pending container up to `now_ms`.
    fn advance(st: &mut SimState, now_ms: u64) {
        let due: Vec<(String, String)> = st
            .pending
            .iter()
            .filter(|(_, p)| p.due_ms <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            let Some(p) = st.pending.remove(&key) else {
                continue;
            };
            let Some(c) = st
                .pods
                .get_mut(&key.0)
                .and_then(|pod| pod.containers.iter_mut().find(|c| c.name == key.1))
            else {
                continue;
            };
            c.state = if p.fails {
                ObservedState::Exited {
                    exit_code: 1,
                    started_at_ms: p.due_ms,
                    finished_at_ms: p.due_ms,
                    oom_killed: false,
                }
            } else {
                ObservedState::Running {
                    started_at_ms: p.due_ms,
                }
            };
        }
    }

    /// Creates the pod and the listed containers that do not exist yet; schedules the start
    /// of those never started. Returns when the last of them is due.
    pub(crate) fn start_at(
        &self,
        plan: &PodPlan,
        containers: &[&ContainerPlan],
        init: bool,
        now_ms: u64,
    ) -> u64 {
        let mut st = self.lock();
        Self::advance(&mut st, now_ms);
        let id = st.next_id;
        let pod = st
            .pods
            .entry(plan.uid.clone())
            .or_insert_with(|| ObservedPod {
                uid: plan.uid.clone(),
                namespace: plan.namespace.clone(),
                name: plan.name.clone(),
                pod_ip: Some(format!(
                    "10.{}.{}.{}",
                    100 + (id >> 16) % 100,
                    (id >> 8) % 256,
                    id % 256
                )),
                created_at_ms: Some(now_ms),
                containers: Vec::new(),
                file_volumes: Vec::new(),
            });
        let mut to_schedule = Vec::new();
        let mut next_id = id + 1;
        for c in containers {
            if pod.container(&c.name).is_none() {
                next_id += 1;
                pod.containers.push(ObservedContainer {
                    name: c.name.clone(),
                    id: format!("sim://{next_id:016x}"),
                    image: c.image.clone(),
                    image_id: String::new(),
                    state: ObservedState::Created,
                    init,
                    restart_count: 0,
                });
                to_schedule.push(c.name.clone());
            }
        }
        // Projected volumes are "written" at once.
        pod.file_volumes = super::projected::plan_digests(plan);
        st.next_id = next_id;
        let mut due = now_ms;
        for name in to_schedule {
            due = due.max(self.schedule(&mut st, &plan.uid, &name, now_ms));
        }
        // Containers created earlier but still starting (a start that was interrupted).
        for c in containers {
            if let Some(p) = st.pending.get(&(plan.uid.clone(), c.name.clone())) {
                due = due.max(p.due_ms);
            }
        }
        due
    }

    pub(crate) fn restart_at(
        &self,
        uid: &str,
        container: &str,
        now_ms: u64,
    ) -> Result<u64, RuntimeError> {
        let mut st = self.lock();
        Self::advance(&mut st, now_ms);
        let c = st
            .pods
            .get_mut(uid)
            .and_then(|p| p.containers.iter_mut().find(|c| c.name == container))
            .ok_or_else(|| RuntimeError::ContainerNotFound {
                uid: uid.to_string(),
                container: container.to_string(),
            })?;
        c.state = ObservedState::Created;
        c.restart_count = c.restart_count.saturating_add(1);
        Ok(self.schedule(&mut st, uid, container, now_ms))
    }

    /// Exits the container (or every container of the pod with `container == None`).
    pub(crate) fn stop_at(&self, uid: &str, container: Option<&str>, exit_code: i32, now_ms: u64) {
        let mut st = self.lock();
        Self::advance(&mut st, now_ms);
        let SimState { pods, pending, .. } = &mut *st;
        let Some(pod) = pods.get_mut(uid) else {
            return;
        };
        for c in pod
            .containers
            .iter_mut()
            .filter(|c| container.is_none_or(|n| n == c.name))
        {
            pending.remove(&(uid.to_string(), c.name.clone()));
            let started_at_ms = match c.state {
                ObservedState::Running { started_at_ms } => started_at_ms,
                ObservedState::Created => 0,
                ObservedState::Exited { .. } => continue,
            };
            c.state = ObservedState::Exited {
                exit_code,
                started_at_ms,
                finished_at_ms: now_ms,
                oom_killed: false,
            };
        }
    }

    pub(crate) fn remove_at(&self, uid: &str, now_ms: u64) {
        let mut st = self.lock();
        Self::advance(&mut st, now_ms);
        if let Some(pod) = st.pods.remove(uid) {
            for c in pod.containers {
                let key = (uid.to_string(), c.name);
                st.pending.remove(&key);
                st.attempts.remove(&key);
            }
        }
    }

    pub(crate) fn list_at(&self, now_ms: u64) -> Vec<ObservedPod> {
        let mut st = self.lock();
        Self::advance(&mut st, now_ms);
        st.pods.values().cloned().collect()
    }

    /// Pods this runtime holds, and how many of their containers are running now.
    pub fn counts(&self) -> (usize, usize) {
        let pods = self.list_at(now_ms());
        let running = pods
            .iter()
            .flat_map(|p| &p.containers)
            .filter(|c| c.state.is_running())
            .count();
        (pods.len(), running)
    }
}

impl ContainerRuntime for SimulatedRuntime {
    /// Simulated usage: a tenth of a core while running, 4 MiB each.
    fn container_usage(&self) -> RuntimeFuture<'_, Vec<super::ContainerUsage>> {
        Box::pin(async move {
            let pods = self.list_pods().await?;
            Ok(super::observed::modelled_usage(
                &pods,
                now_ms(),
                100_000,
                4 << 20,
            ))
        })
    }

    fn name(&self) -> &'static str {
        "sim"
    }

    fn version(&self) -> RuntimeFuture<'_, String> {
        async { Ok(env!("CARGO_PKG_VERSION").to_string()) }.boxed()
    }

    fn start_pod<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move {
            let apps: Vec<&ContainerPlan> = plan
                .containers
                .iter()
                .filter(|c| c.config_error.is_empty())
                .collect();
            let due = self.start_at(plan, &apps, false, now_ms());
            self.settle(due).await;
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
            let due = self.start_at(plan, &init, true, now_ms());
            self.settle(due).await;
            Ok(())
        }
        .boxed()
    }

    fn sync_volumes<'a>(&'a self, plan: &'a PodPlan) -> RuntimeFuture<'a, ()> {
        async move {
            if let Some(pod) = self.lock().pods.get_mut(&plan.uid) {
                pod.file_volumes = super::projected::plan_digests(plan);
            }
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
            self.stop_at(uid, Some(container), 137, now_ms());
            Ok(())
        }
        .boxed()
    }

    fn probe_exec<'a>(
        &'a self,
        _uid: &'a str,
        _container: &'a str,
        _command: &'a [String],
        _timeout: Duration,
    ) -> RuntimeFuture<'a, (i32, String)> {
        // Simulated containers are healthy: every exec probe succeeds.
        async { Ok((0, String::new())) }.boxed()
    }

    fn restart_container<'a>(&'a self, uid: &'a str, container: &'a str) -> RuntimeFuture<'a, ()> {
        async move {
            let due = self.restart_at(uid, container, now_ms())?;
            self.settle(due).await;
            Ok(())
        }
        .boxed()
    }

    fn stop_pod<'a>(&'a self, uid: &'a str, _grace: Duration) -> RuntimeFuture<'a, ()> {
        async move {
            self.stop_at(uid, None, 143, now_ms());
            Ok(())
        }
        .boxed()
    }

    fn remove_pod<'a>(&'a self, uid: &'a str) -> RuntimeFuture<'a, ()> {
        async move {
            self.remove_at(uid, now_ms());
            Ok(())
        }
        .boxed()
    }

    fn list_pods(&self) -> RuntimeFuture<'_, Vec<ObservedPod>> {
        async move { Ok(self.list_at(now_ms())) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use shoal_transport::wire::RestartPolicy;

    use super::*;
    use crate::pods::{pod_status, reconcile, Effect, ProbeBook, RestartBook};

    fn plan(uid: &str) -> PodPlan {
        PodPlan {
            uid: uid.into(),
            namespace: "default".into(),
            name: format!("pod-{uid}"),
            restart_policy: RestartPolicy::Always,
            containers: vec![ContainerPlan {
                name: "app".into(),
                image: "busybox".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn profile(min_ms: u64, max_ms: u64, failure_rate: f64) -> SimProfile {
        SimProfile {
            start_delay_min: Duration::from_millis(min_ms),
            start_delay_max: Duration::from_millis(max_ms),
            failure_rate,
            seed: 7,
        }
    }

    fn state_of(rt: &SimulatedRuntime, uid: &str, now: u64) -> ObservedState {
        rt.list_at(now)
            .into_iter()
            .find(|p| p.uid == uid)
            .and_then(|p| p.containers.first().map(|c| c.state))
            .expect("container")
    }

    #[test]
    fn created_until_the_start_delay_then_running() {
        let rt = SimulatedRuntime::new(profile(1_000, 1_000, 0.0));
        let p = plan("u1");
        rt.start_at(&p, &p.containers.iter().collect::<Vec<_>>(), false, 10_000);
        assert_eq!(state_of(&rt, "u1", 10_999), ObservedState::Created);
        assert_eq!(
            state_of(&rt, "u1", 11_000),
            ObservedState::Running {
                started_at_ms: 11_000
            }
        );
        // Starting again is idempotent: the running container is left alone.
        rt.start_at(&p, &p.containers.iter().collect::<Vec<_>>(), false, 12_000);
        assert!(state_of(&rt, "u1", 20_000).is_running());
    }

    #[test]
    fn delays_spread_over_the_range_and_are_reproducible() {
        let rt = SimulatedRuntime::new(profile(100, 900, 0.0));
        let again = SimulatedRuntime::new(profile(100, 900, 0.0));
        let mut dues = Vec::new();
        for i in 0..200 {
            let p = plan(&format!("u{i}"));
            let cs: Vec<_> = p.containers.iter().collect();
            rt.start_at(&p, &cs, false, 0);
            again.start_at(&p, &cs, false, 0);
        }
        let a = rt.list_at(1_000);
        for p in &a {
            let ObservedState::Running { started_at_ms } = p.containers[0].state else {
                panic!("running after the longest delay");
            };
            assert!((100..=900).contains(&started_at_ms), "{started_at_ms}");
            dues.push(started_at_ms);
        }
        let mut b: Vec<_> = again.list_at(1_000);
        let mut a = a;
        a.sort_by(|x, y| x.uid.cmp(&y.uid));
        b.sort_by(|x, y| x.uid.cmp(&y.uid));
        assert_eq!(a, b, "same seed, same behaviour");
        dues.sort_unstable();
        assert!(dues[0] < 300 && dues[199] > 700, "spread: {dues:?}");
    }

    #[test]
    fn failure_rate_fails_about_that_share_and_restarts_draw_again() {
        let rt = SimulatedRuntime::new(profile(0, 0, 0.3));
        for i in 0..1_000 {
            let p = plan(&format!("u{i}"));
            rt.start_at(&p, &p.containers.iter().collect::<Vec<_>>(), false, 0);
        }
        let failed: Vec<String> = rt
            .list_at(1)
            .into_iter()
            .filter(|p| {
                matches!(
                    p.containers[0].state,
                    ObservedState::Exited { exit_code: 1, .. }
                )
            })
            .map(|p| p.uid)
            .collect();
        assert!(
            (200..400).contains(&failed.len()),
            "{} failed",
            failed.len()
        );
        for uid in &failed {
            rt.restart_at(uid, "app", 10).expect("restart");
        }
        let still = rt
            .list_at(11)
            .into_iter()
            .filter(|p| failed.contains(&p.uid))
            .filter(|p| !p.containers[0].state.is_running())
            .count();
        assert!(
            still < failed.len() / 2,
            "{still} of {} failed again",
            failed.len()
        );
        assert!(matches!(
            rt.restart_at("nope", "app", 12),
            Err(RuntimeError::ContainerNotFound { .. })
        ));
    }

    #[test]
    fn stop_exits_pending_and_running_containers_and_remove_forgets() {
        let rt = SimulatedRuntime::new(profile(1_000, 1_000, 0.0));
        let (a, b) = (plan("a"), plan("b"));
        rt.start_at(&a, &a.containers.iter().collect::<Vec<_>>(), false, 0);
        rt.start_at(&b, &b.containers.iter().collect::<Vec<_>>(), false, 5_000);
        rt.stop_at("a", None, 143, 2_000);
        rt.stop_at("b", None, 143, 5_500);
        assert!(matches!(
            state_of(&rt, "a", 9_000),
            ObservedState::Exited {
                exit_code: 143,
                started_at_ms: 1_000,
                ..
            }
        ));
        // A container stopped before it started never starts later.
        assert!(matches!(
            state_of(&rt, "b", 9_000),
            ObservedState::Exited {
                exit_code: 143,
                started_at_ms: 0,
                ..
            }
        ));
        rt.remove_at("a", 9_000);
        assert_eq!(rt.list_at(9_000).len(), 1);
        let st = rt.lock();
        assert!(st.pending.is_empty() && st.attempts.len() == 1);
    }

    #[tokio::test]
    async fn the_pod_core_drives_it_to_running_through_the_trait() {
        // start_pod returns once the container runs, as Podman's does: the pod core sees no
        // `Created` container to start again.
        let rt = SimulatedRuntime::new(profile(30, 30, 0.0));
        let desired = vec![plan("u1")];
        let book = RestartBook::new();
        let observed = rt.list_pods().await.expect("list");
        for e in reconcile(&desired, &observed, &book, &ProbeBook::new(), now_ms()) {
            if let Effect::StartPod(p) = e {
                rt.start_pod(&p).await.expect("start");
            }
        }
        let observed = rt.list_pods().await.expect("list");
        let status = pod_status(
            &desired[0],
            observed.first(),
            &book,
            &ProbeBook::new(),
            now_ms(),
            "",
        );
        assert_eq!(status.phase, "Running");
        assert!(reconcile(&desired, &observed, &book, &ProbeBook::new(), now_ms()).is_empty());
        assert_eq!(rt.counts(), (1, 1));
    }
}
