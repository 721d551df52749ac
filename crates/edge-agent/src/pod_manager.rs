//! PodManager: makes the container runtime run the node's desired pods and reports their
//! status. The decisions are helper code in [`crate::pods`] (pure); this actor owns the state
//! and carries the decisions out.
//!
//! Data flow:
//! 1. [`DesiredPods`] arrives (once from the local store at start, then from the HubLink after
//!    every persisted change) and replaces the desired set.
//! 2. A *pass* runs on every change, every [`RECONCILE_INTERVAL`] and whenever a pod worker
//!    finishes: list the runtime's pods, call [`reconcile`] (desired + observed + restart book +
//!    now -> effects), and hand each pod's effects to a *pod worker*.
//! 3. A pod worker is one future per pod UID carrying out that pod's effects in order through
//!    the `Arc<dyn ContainerRuntime>`; a pod has at most one worker at a time (the runtime must
//!    not see overlapping calls for one pod), at most [`MAX_WORKERS`] run at once, and a pod
//!    whose calls failed waits a [`crate::backoff::POD_OPERATION`] back-off before the next try.
//!    Successful restarts and removals update the [`RestartBook`]. A pod that left the desired
//!    set is stopped with its own grace period (the plan's deletion grace, else its
//!    `terminationGracePeriodSeconds`) rather than the orphan default of [`reconcile`].
//! 4. The same pass computes every desired pod's status with [`pod_status`] and sends what
//!    changed to the StatusReporter ([`PodStatuses`]), with the last runtime error of a pod in
//!    its status `message`, and the kubelet-style events ([`crate::pods::events`]) of what the
//!    workers did, probes found and statuses entered since the last send (at most
//!    [`MAX_PENDING_EVENTS`] wait; the reporter aggregates them). The [`ReportBook`] keeps
//!    what was sent; a send that finds the reporter busy changes nothing, so the next pass
//!    sends the same changes and events once (not twice).
//!
//! Design: an observation is thrown away when a worker finished while it was being taken (it
//! may predate that worker's restart and would restart the container twice); the pass simply
//! runs again. Stopping the agent stops this actor but never the pods: they keep running
//! and are adopted by the next agent start (offline first).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use shoal_actors::DesiredPods;
use shoal_transport::status::now_ms;
use shoal_transport::wire::PodPlan;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::backoff::{Backoff, POD_OPERATION};
use crate::error_chain;
use crate::pods::{
    events, pod_status, reconcile, DueProbe, Effect, PodEvent, ProbeBook, ProbeKind, ReportBook,
    RestartBook,
};
use crate::prober::{self, ProbeTarget};
use crate::runtime::{ContainerRuntime, ObservedPod, ObservedState, RuntimeError};
use crate::status_reporter::PodStatuses;

/// Period of the level-triggered reconcile pass.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(2);
/// Most pod workers running at once.
pub const MAX_WORKERS: usize = 8;
/// How often the pod manager looks for probes that are due.
pub const PROBE_TICK: Duration = Duration::from_millis(500);
/// Most probes running at once.
pub const MAX_PROBES: usize = 32;
pub use crate::pods::MAX_PENDING_EVENTS;

/// A pod whose runtime calls failed.
#[derive(Debug)]
struct PodFailure {
    backoff: Backoff,
    retry_at_ms: u64,
    message: String,
}

/// The pod manager actor.
pub struct PodManager {
    runtime: Arc<dyn ContainerRuntime>,
    host_ip: String,
    /// Desired plans, unique by UID, ordered by UID.
    desired: Vec<PodPlan>,
    revision: u64,
    book: RestartBook,
    probes: ProbeBook,
    /// Probes in flight: (pod UID, container, kind).
    probing: HashSet<(String, String, ProbeKind)>,
    /// The runtime's pods as of the last pass (what probes are scheduled against).
    last_observed: Vec<ObservedPod>,
    workers: HashSet<String>,
    failures: HashMap<String, PodFailure>,
    /// A `list_pods` is in flight.
    observing: bool,
    /// Another pass was asked for while observing.
    again: bool,
    /// Bumped whenever a worker finishes.
    completions: u64,
    /// Grace periods of pods that left the desired set and may still run: their removal uses
    /// the pod's own grace, not the orphan default.
    departed: HashMap<String, Duration>,
    reporter: Option<Recipient<PodStatuses>>,
    /// What the reporter was sent, and events not yet handed to it.
    book_sent: ReportBook,
    last_list_error: Option<String>,
    shutdown: CancellationToken,
}

impl PodManager {
    /// A manager running `initial` on `runtime`; `host_ip` is the node's address (pods'
    /// `hostIP`). Statuses go to `reporter` when there is one. Stops when `shutdown` fires.
    pub fn new(
        runtime: Arc<dyn ContainerRuntime>,
        host_ip: String,
        initial: DesiredPods,
        reporter: Option<Recipient<PodStatuses>>,
        shutdown: CancellationToken,
    ) -> PodManager {
        let mut manager = PodManager {
            runtime,
            host_ip,
            desired: Vec::new(),
            revision: 0,
            book: RestartBook::new(),
            probes: ProbeBook::new(),
            probing: HashSet::new(),
            last_observed: Vec::new(),
            workers: HashSet::new(),
            failures: HashMap::new(),
            observing: false,
            again: false,
            completions: 0,
            departed: HashMap::new(),
            reporter,
            book_sent: ReportBook::new(),
            last_list_error: None,
            shutdown,
        };
        manager.set_desired(initial);
        manager
    }

    fn set_desired(&mut self, msg: DesiredPods) {
        let mut pods = msg.pods;
        pods.sort_by(|a, b| a.uid.cmp(&b.uid));
        pods.dedup_by(|a, b| a.uid == b.uid);
        for old in &self.desired {
            if !pods.iter().any(|p| p.uid == old.uid) {
                self.departed.insert(old.uid.clone(), grace_of(old));
            }
        }
        for plan in &pods {
            self.departed.remove(&plan.uid);
        }
        self.desired = pods;
        self.revision = msg.revision;
    }

    /// Runs a pass now, or right after the one in flight.
    fn request_pass(&mut self, ctx: &mut Context<Self>) {
        if self.observing {
            self.again = true;
            return;
        }
        self.observing = true;
        let runtime = self.runtime.clone();
        let epoch = self.completions;
        ctx.spawn(
            async move { runtime.list_pods().await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.observing = false;
                    match result {
                        Ok(observed) if epoch == act.completions => {
                            act.last_list_error = None;
                            act.on_observed(&observed, ctx);
                        }
                        Ok(_) => act.again = true,
                        Err(e) => act.list_failed(&e),
                    }
                    if std::mem::take(&mut act.again) {
                        act.request_pass(ctx);
                    }
                }),
        );
    }

    fn list_failed(&mut self, e: &RuntimeError) {
        let text = error_chain(e);
        if self.last_list_error.as_deref() != Some(text.as_str()) {
            warn!(error = %text, "listing the runtime's pods failed; will retry");
        } else {
            debug!(error = %text, "listing the runtime's pods failed again");
        }
        self.last_list_error = Some(text);
    }

    fn on_observed(&mut self, observed: &[ObservedPod], ctx: &mut Context<Self>) {
        let now = now_ms();
        // Forget failures of pods that are neither desired nor present any more.
        let desired = &self.desired;
        self.failures.retain(|uid, _| {
            desired.iter().any(|p| &p.uid == uid) || observed.iter().any(|p| &p.uid == uid)
        });
        self.departed
            .retain(|uid, _| observed.iter().any(|p| &p.uid == uid));
        self.probes
            .retain_pods(|uid| desired.iter().any(|p| p.uid == uid));
        self.last_observed = observed.to_vec();

        let mut groups: Vec<(String, Vec<Effect>)> = Vec::new();
        for mut effect in reconcile(&self.desired, observed, &self.book, &self.probes, now) {
            if let Effect::RemovePod { uid, grace } = &mut effect {
                if let Some(own) = self.departed.get(uid) {
                    *grace = *own;
                }
            }
            let uid = effect_uid(&effect).to_string();
            match groups.iter_mut().find(|(u, _)| *u == uid) {
                Some((_, effects)) => effects.push(effect),
                None => groups.push((uid, vec![effect])),
            }
        }
        for (uid, effects) in groups {
            if self.workers.len() >= MAX_WORKERS {
                break;
            }
            let backing_off = self.failures.get(&uid).is_some_and(|f| f.retry_at_ms > now);
            if self.workers.contains(&uid) || backing_off {
                continue;
            }
            self.spawn_worker(uid, effects, ctx);
        }
        self.report(observed, now);
    }

    fn spawn_worker(&mut self, uid: String, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        debug!(%uid, ?effects, "pod worker starting");
        self.workers.insert(uid.clone());
        let runtime = self.runtime.clone();
        ctx.spawn(
            async move {
                let mut done = Vec::with_capacity(effects.len());
                for effect in effects {
                    let result = execute(&*runtime, &effect).await;
                    let failed = result.is_err();
                    done.push((effect, result, now_ms()));
                    if failed {
                        break;
                    }
                }
                done
            }
            .into_actor(self)
            .map(move |done, act, ctx| {
                act.workers.remove(&uid);
                act.completions += 1;
                let mut failure = None;
                for (effect, result, at_ms) in done {
                    let error = result.as_ref().err().map(|e| error_chain(e));
                    act.note_events(&effect, error.as_deref());
                    match (&effect, result) {
                        (Effect::RestartContainer { uid, container }, Ok(())) => {
                            info!(%uid, %container, "restarted container");
                            act.book.record_restart(uid, container, at_ms);
                        }
                        (Effect::RemovePod { uid, .. }, Ok(())) => {
                            info!(%uid, "removed pod");
                            act.book.forget_pod(uid);
                        }
                        (Effect::StartPod(plan), Ok(())) => {
                            info!(uid = %plan.uid, pod = %format!("{}/{}", plan.namespace, plan.name), "started pod");
                        }
                        (Effect::StopPod { uid, .. }, Ok(())) => info!(%uid, "stopped pod"),
                        (Effect::StartInit { plan, container }, Ok(())) => {
                            info!(uid = %plan.uid, %container, "started init container");
                        }
                        (Effect::SyncVolumes(plan), Ok(())) => {
                            info!(uid = %plan.uid, "updated projected volumes");
                        }
                        (Effect::KillContainer { uid, container, .. }, Ok(())) => {
                            info!(%uid, %container, "killed container that failed its probe");
                        }
                        (effect, Err(e)) => {
                            failure = Some(format!("{}: {}", describe(effect), error_chain(&e)));
                        }
                    }
                }
                match failure {
                    Some(message) => act.note_failure(&uid, message),
                    None => {
                        act.failures.remove(&uid);
                    }
                }
                act.request_pass(ctx);
            }),
        );
    }

    /// Starts the probes that are due, against the last observation.
    fn probe_tick(&mut self, ctx: &mut Context<Self>) {
        let now = now_ms();
        let mut due: Vec<(DueProbe, ProbeTarget)> = Vec::new();
        for plan in &self.desired {
            if plan.deletion_grace_period_seconds.is_some() {
                continue;
            }
            let Some(pod) = self.last_observed.iter().find(|p| p.uid == plan.uid) else {
                continue;
            };
            let target = ProbeTarget {
                host: if plan.host_network {
                    Some(self.host_ip.clone()).filter(|h| !h.is_empty())
                } else {
                    pod.pod_ip.clone()
                },
            };
            for c in &plan.containers {
                let Some(ObservedState::Running { started_at_ms }) =
                    pod.container(&c.name).map(|o| o.state)
                else {
                    continue;
                };
                for d in self.probes.due(&plan.uid, c, started_at_ms, now) {
                    due.push((d, target.clone()));
                }
            }
        }
        for (d, target) in due {
            if self.probing.len() >= MAX_PROBES {
                break;
            }
            let key = (d.uid.clone(), d.container.clone(), d.kind);
            if !self.probing.insert(key.clone()) {
                continue;
            }
            let runtime = self.runtime.clone();
            ctx.spawn(
                async move {
                    let (passed, message) = prober::run(&*runtime, &target, &d).await;
                    (d, passed, message)
                }
                .into_actor(self)
                .map(move |(d, passed, message), act, ctx| {
                    act.probing.remove(&key);
                    if !passed {
                        warn!(uid = %d.uid, container = %d.container, probe = d.kind.name(), %message, "probe failed");
                        if let Some(plan) = act.desired.iter().find(|p| p.uid == d.uid) {
                            let ev = events::for_probe_failure(plan, &d.container, d.kind, &message);
                            act.push_events(vec![ev]);
                        }
                    }
                    if act.probes.record(&d, passed, &message, now_ms()) {
                        info!(uid = %d.uid, container = %d.container, probe = d.kind.name(), passed, "probe result changed the container's state");
                        act.request_pass(ctx);
                    }
                }),
            );
        }
    }

    /// Queues the events of a finished effect (its pod's plan must still be desired: a pod
    /// that left has no one to read them).
    fn note_events(&mut self, effect: &Effect, error: Option<&str>) {
        let uid = effect_uid(effect);
        let Some(plan) = self.desired.iter().find(|p| p.uid == uid) else {
            return;
        };
        let evs = events::for_effect(effect, plan, error);
        self.push_events(evs);
    }

    fn push_events(&mut self, evs: Vec<PodEvent>) {
        if self.reporter.is_none() {
            return;
        }
        for ev in evs {
            let (reason, pod) = (ev.reason, ev.name.clone());
            if !self.book_sent.push_event(ev) {
                warn!(%reason, %pod, "too many events waiting for the status reporter; dropped one");
            }
        }
    }

    fn note_failure(&mut self, uid: &str, message: String) {
        let now = now_ms();
        let failure = self
            .failures
            .entry(uid.to_string())
            .or_insert_with(|| PodFailure {
                backoff: Backoff::new(POD_OPERATION),
                retry_at_ms: 0,
                message: String::new(),
            });
        let delay = failure.backoff.next_delay();
        failure.retry_at_ms = now.saturating_add(delay.as_millis() as u64);
        warn!(%uid, error = %message, retry_in = ?delay, "pod operation failed");
        failure.message = message;
    }

    /// Sends the statuses that changed since the last successful send.
    fn report(&mut self, observed: &[ObservedPod], now: u64) {
        let Some(reporter) = &self.reporter else {
            return;
        };
        let mut running = 0u32;
        let mut statuses = Vec::with_capacity(self.desired.len());
        for plan in &self.desired {
            let pod = observed.iter().find(|p| p.uid == plan.uid);
            if pod.is_some_and(|p| p.containers.iter().any(|c| c.state.is_running())) {
                running = running.saturating_add(1);
            }
            let mut status = pod_status(plan, pod, &self.book, &self.probes, now, &self.host_ip);
            if let Some(failure) = self.failures.get(&plan.uid) {
                status.message = Some(failure.message.clone());
            }
            statuses.push((plan, status));
        }
        let Some(msg) = self.book_sent.outgoing(statuses, running) else {
            return;
        };
        match reporter.try_send(msg.clone()) {
            Ok(()) => self.book_sent.sent(msg),
            Err(SendError::Full(_)) => {
                debug!("status reporter is busy; statuses go out with the next pass");
            }
            Err(SendError::Closed(_)) => {
                debug!("status reporter is gone; no more status reports");
                self.reporter = None;
            }
        }
    }
}

/// The grace period a pod asked for: the deletion's when it is being deleted, its
/// `terminationGracePeriodSeconds` otherwise.
fn grace_of(plan: &PodPlan) -> Duration {
    Duration::from_secs(
        plan.deletion_grace_period_seconds
            .unwrap_or(plan.termination_grace_period_seconds),
    )
}

/// The UID an effect is about.
fn effect_uid(effect: &Effect) -> &str {
    match effect {
        Effect::StartPod(plan) | Effect::SyncVolumes(plan) | Effect::StartInit { plan, .. } => {
            &plan.uid
        }
        Effect::KillContainer { uid, .. }
        | Effect::RestartContainer { uid, .. }
        | Effect::StopPod { uid, .. }
        | Effect::RemovePod { uid, .. } => uid,
    }
}

/// Short description of an effect for logs and pod status messages.
fn describe(effect: &Effect) -> String {
    match effect {
        Effect::StartPod(_) => "starting the pod".to_string(),
        Effect::StartInit { container, .. } => format!("starting init container {container}"),
        Effect::SyncVolumes(_) => "writing projected volumes".to_string(),
        Effect::KillContainer { container, .. } => format!("killing container {container}"),
        Effect::RestartContainer { container, .. } => format!("restarting container {container}"),
        Effect::StopPod { .. } => "stopping the pod".to_string(),
        Effect::RemovePod { .. } => "removing the pod".to_string(),
    }
}

/// Carries out one effect.
async fn execute(runtime: &dyn ContainerRuntime, effect: &Effect) -> Result<(), RuntimeError> {
    match effect {
        Effect::StartPod(plan) => runtime.start_pod(plan).await,
        Effect::StartInit { plan, container } => {
            runtime.start_init_container(plan, container).await
        }
        Effect::SyncVolumes(plan) => runtime.sync_volumes(plan).await,
        Effect::KillContainer {
            uid,
            container,
            grace,
        } => runtime.stop_container(uid, container, *grace).await,
        Effect::RestartContainer { uid, container } => {
            runtime.restart_container(uid, container).await
        }
        Effect::StopPod { uid, grace } => runtime.stop_pod(uid, *grace).await,
        Effect::RemovePod { uid, grace } => {
            runtime.stop_pod(uid, *grace).await?;
            runtime.remove_pod(uid).await
        }
    }
}

impl Actor for PodManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        info!(
            pods = self.desired.len(),
            revision = self.revision,
            runtime = self.runtime.name(),
            "pod manager started"
        );
        ctx.run_interval(RECONCILE_INTERVAL, |act, ctx| act.request_pass(ctx));
        ctx.run_interval(PROBE_TICK, |act, ctx| act.probe_tick(ctx));
        let shutdown = self.shutdown.clone();
        ctx.spawn(
            async move { shutdown.cancelled().await }
                .into_actor(self)
                .map(|(), _act, ctx| ctx.stop()),
        );
        self.request_pass(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        debug!(
            workers_cancelled = self.workers.len(),
            "pod manager stopped; pods keep running"
        );
    }
}

impl Handler<DesiredPods> for PodManager {
    type Result = ();

    fn handle(&mut self, msg: DesiredPods, ctx: &mut Context<Self>) {
        debug!(
            revision = msg.revision,
            pods = msg.pods.len(),
            "desired pods changed"
        );
        self.set_desired(msg);
        self.request_pass(ctx);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use shoal_transport::wire::{ContainerPlan, RestartPolicy};

    use super::*;
    use crate::runtime::fake::FakeCall;
    use crate::runtime::FakeRuntime;

    fn plan(uid: &str) -> PodPlan {
        PodPlan {
            uid: uid.into(),
            namespace: "default".into(),
            name: format!("pod-{uid}"),
            restart_policy: RestartPolicy::Always,
            termination_grace_period_seconds: 7,
            containers: vec![ContainerPlan {
                name: "main".into(),
                image: "busybox".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// Collects what the manager reports.
    #[derive(Default)]
    struct Sink {
        got: Vec<PodStatuses>,
    }

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<PodStatuses> for Sink {
        type Result = ();
        fn handle(&mut self, msg: PodStatuses, _ctx: &mut Context<Self>) {
            self.got.push(msg);
        }
    }

    #[derive(Message)]
    #[rtype(result = "Vec<PodStatuses>")]
    struct Take;

    impl Handler<Take> for Sink {
        type Result = MessageResult<Take>;
        fn handle(&mut self, _msg: Take, _ctx: &mut Context<Self>) -> Self::Result {
            MessageResult(std::mem::take(&mut self.got))
        }
    }

    async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[actix_rt::test]
    async fn starts_desired_pods_reports_them_and_removes_undesired_ones() {
        let fake = Arc::new(FakeRuntime::new());
        let sink = Sink::default().start();
        let shutdown = CancellationToken::new();
        let manager = PodManager::new(
            fake.clone(),
            "127.0.0.2".into(),
            DesiredPods {
                revision: 1,
                pods: vec![plan("a")],
            },
            Some(sink.clone().recipient()),
            shutdown.clone(),
        )
        .start();

        wait_for("pod a to start", || {
            fake.calls()
                .contains(&FakeCall::StartPod { uid: "a".into() })
        })
        .await;
        let mut reports = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !reports.iter().any(|r: &PodStatuses| {
            r.changed
                .iter()
                .any(|u| u.pod.uid == "a" && u.status.phase == "Running")
        }) {
            assert!(Instant::now() < deadline, "no Running report: {reports:?}");
            reports.extend(sink.send(Take).await.expect("sink"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let running = reports
            .iter()
            .flat_map(|r| &r.changed)
            .rfind(|u| u.pod.uid == "a")
            .expect("report");
        assert_eq!(running.status.host_ip.as_deref(), Some("127.0.0.2"));

        manager
            .send(DesiredPods {
                revision: 2,
                pods: vec![],
            })
            .await
            .expect("manager alive");
        wait_for("pod a to be removed", || {
            fake.calls()
                .contains(&FakeCall::RemovePod { uid: "a".into() })
        })
        .await;
        assert!(
            fake.calls().contains(&FakeCall::StopPod {
                uid: "a".into(),
                grace: Duration::from_secs(7)
            }),
            "a pod the hub dropped stops with its own grace: {:?}",
            fake.calls()
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = sink.send(Take).await.expect("sink");
            if got
                .iter()
                .any(|r| r.removed.iter().any(|p| p.uid == "a" && p.name == "pod-a"))
            {
                break;
            }
            assert!(Instant::now() < deadline, "no removal report");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Healthy and converged: no further runtime calls.
        fake.clear_calls();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(fake.calls().is_empty(), "{:?}", fake.calls());

        shutdown.cancel();
        wait_for("manager to stop", || !manager.connected()).await;
    }

    #[actix_rt::test]
    async fn failing_start_backs_off_and_shows_in_status() {
        let fake = Arc::new(FakeRuntime::new());
        fake.set_fail_start("main", true);
        let sink = Sink::default().start();
        let shutdown = CancellationToken::new();
        let _manager = PodManager::new(
            fake.clone(),
            "127.0.0.1".into(),
            DesiredPods {
                revision: 1,
                pods: vec![plan("a")],
            },
            Some(sink.clone().recipient()),
            shutdown.clone(),
        )
        .start();
        let deadline = Instant::now() + Duration::from_secs(5);
        let message = loop {
            let got = sink.send(Take).await.expect("sink");
            if let Some(m) = got
                .iter()
                .flat_map(|r| &r.changed)
                .find_map(|u| u.status.message.clone())
            {
                break m;
            }
            assert!(Instant::now() < deadline, "no failure in status");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(message.contains("starting the pod"), "{message}");
        // The back-off (2 s) holds the next attempt: only one start so far.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let starts = fake
            .calls()
            .iter()
            .filter(|c| matches!(c, FakeCall::StartPod { .. }))
            .count();
        assert_eq!(starts, 1, "{:?}", fake.calls());
        shutdown.cancel();
    }
}
