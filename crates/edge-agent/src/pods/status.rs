//! Pod status: the Kubernetes `PodStatus` the agent reports for one pod, computed from its plan,
//! what the runtime observes and the restart book.
//!
//! Pure, like reconcile: `now_ms` is an input, so "is this container in CrashLoopBackOff" is
//! answered by the same rule ([`super::reconcile`]'s verdict on exited containers) that decides
//! whether it is restarted.
//!
//! Phase rules (Kubernetes'):
//! - **Pending** while init containers run, and until every container has been created and
//!   started at least once; **Failed** when an init container failed for good;
//! - **Succeeded** when every container has terminated for good with exit code 0;
//! - **Failed** when every container has terminated for good and one did not exit 0;
//! - **Running** otherwise: something runs, or will be restarted.
//!
//! "For good" means the (effective) restart policy does not bring it back: under `Always` that
//! never happens unless the pod is being deleted; under `OnFailure` only exit code 0 is final.

use shoal_transport::status::{
    rfc3339_from_ms, Condition, ContainerState, ContainerStatus, PodStatus, StateRunning,
    StateTerminated, StateWaiting,
};
use shoal_transport::wire::{ContainerPlan, PodPlan};

use super::probe::ProbeBook;
use super::reconcile::{exited_verdict, initialized, ExitedVerdict};
use super::restart::RestartBook;
use crate::runtime::{ObservedContainer, ObservedPod, ObservedState};

/// Waiting reason while a container is being created (or was never started).
pub const REASON_CONTAINER_CREATING: &str = "ContainerCreating";
/// Waiting reason while a crashed container waits out its back-off.
pub const REASON_CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
/// Waiting reason of application containers while init containers run.
pub const REASON_POD_INITIALIZING: &str = "PodInitializing";
/// Waiting reason of a container whose ConfigMap or Secret is missing.
pub const REASON_CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

/// The Kubernetes status of the pod described by `plan`, given what the runtime reports
/// (`None`: the runtime has no such pod yet) and `host_ip`, the node's address (empty if
/// unknown).
pub fn pod_status<'p>(
    plan: &'p PodPlan,
    observed: Option<&'p ObservedPod>,
    book: &RestartBook,
    probes: &ProbeBook,
    now_ms: u64,
    host_ip: &str,
) -> PodStatus {
    let view = |c: &'p ContainerPlan| -> ContainerView<'p> {
        let obs = observed.and_then(|p| p.container(&c.name));
        let verdict = obs.and_then(|o| exited_verdict(plan, &c.name, &o.state, book, now_ms));
        let (ready, started) = match obs.map(|o| o.state) {
            Some(ObservedState::Running { started_at_ms }) => {
                let v = probes.view(&plan.uid, c, started_at_ms);
                (v.ready, v.started)
            }
            _ => (false, false),
        };
        ContainerView {
            plan: c,
            observed: obs,
            verdict,
            ready,
            started,
        }
    };
    let views: Vec<ContainerView<'_>> = plan.containers.iter().map(view).collect();
    let init_views: Vec<ContainerView<'_>> = plan.init_containers.iter().map(view).collect();
    let initialized = initialized(plan, observed);
    let init_failed = !initialized
        && init_views.iter().any(|v| {
            v.verdict == Some(ExitedVerdict::Final)
                && !matches!(
                    v.observed.map(|o| o.state),
                    Some(ObservedState::Exited { exit_code: 0, .. })
                )
        });

    let phase = if init_failed {
        "Failed"
    } else if !initialized {
        "Pending"
    } else {
        phase(&views)
    };
    let container_statuses: Vec<ContainerStatus> = views
        .iter()
        .map(|v| {
            let mut s = container_status(plan, v, book);
            if !initialized && v.observed.is_none() {
                s.state.waiting = Some(waiting(REASON_POD_INITIALIZING, None));
            }
            s
        })
        .collect();
    let init_container_statuses: Vec<ContainerStatus> = init_views
        .iter()
        .map(|v| {
            let mut s = container_status(plan, v, book);
            // An init container is "ready" once it completed.
            s.ready = matches!(
                v.observed.map(|o| o.state),
                Some(ObservedState::Exited { exit_code: 0, .. })
            ) || (initialized && v.observed.is_none());
            if initialized && v.observed.is_none() {
                s.state.waiting = None;
            }
            s
        })
        .collect();
    let not_ready: Vec<&str> = views
        .iter()
        .filter(|v| !v.ready)
        .map(|v| v.plan.name.as_str())
        .collect();
    let host_ip = (!host_ip.is_empty()).then(|| host_ip.to_string());
    let pod_ip = if plan.host_network {
        host_ip.clone()
    } else {
        observed.and_then(|p| p.pod_ip.clone())
    };
    let pending_inits: Vec<&str> = init_views
        .iter()
        .filter(|v| {
            !matches!(
                v.observed.map(|o| o.state),
                Some(ObservedState::Exited { exit_code: 0, .. })
            )
        })
        .map(|v| v.plan.name.as_str())
        .collect();

    PodStatus {
        phase: phase.to_string(),
        conditions: conditions(phase, &not_ready, initialized, &pending_inits),
        message: None,
        reason: None,
        host_ip,
        pod_ip,
        start_time: observed.and_then(start_time_ms).map(rfc3339_from_ms),
        init_container_statuses,
        container_statuses,
    }
}

/// One planned container with what the runtime reports about it.
struct ContainerView<'a> {
    plan: &'a ContainerPlan,
    observed: Option<&'a ObservedContainer>,
    /// Set when the container has exited.
    verdict: Option<ExitedVerdict>,
    /// Running and passing its readiness probe (if any).
    ready: bool,
    /// Running and past its startup probe (if any).
    started: bool,
}

impl ContainerView<'_> {
    fn never_started(&self) -> bool {
        self.observed
            .is_none_or(|o| o.state == ObservedState::Created)
    }
}

fn phase(views: &[ContainerView<'_>]) -> &'static str {
    if views.is_empty() || views.iter().any(ContainerView::never_started) {
        return "Pending";
    }
    let all_final = views
        .iter()
        .all(|v| v.verdict == Some(ExitedVerdict::Final));
    if !all_final {
        return "Running";
    }
    let all_zero = views.iter().all(|v| {
        matches!(
            v.observed.map(|o| o.state),
            Some(ObservedState::Exited { exit_code: 0, .. })
        )
    });
    if all_zero {
        "Succeeded"
    } else {
        "Failed"
    }
}

fn conditions(
    phase: &str,
    not_ready: &[&str],
    initialized: bool,
    pending_inits: &[&str],
) -> Vec<Condition> {
    let ready = not_ready.is_empty();
    let (reason, message) = if ready {
        (None, None)
    } else if phase == "Succeeded" || phase == "Failed" {
        (Some("PodCompleted".to_string()), None)
    } else {
        (
            Some("ContainersNotReady".to_string()),
            Some(format!(
                "containers with unready status: [{}]",
                not_ready.join(" ")
            )),
        )
    };
    let cond = |type_: &str, ok: bool, with_reason: bool| Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: if with_reason { reason.clone() } else { None },
        message: if with_reason { message.clone() } else { None },
        ..Default::default()
    };
    vec![
        cond("PodScheduled", true, false),
        Condition {
            type_: "Initialized".to_string(),
            status: if initialized { "True" } else { "False" }.to_string(),
            reason: (!initialized).then(|| "ContainersNotInitialized".to_string()),
            message: (!initialized).then(|| {
                format!(
                    "containers with incomplete status: [{}]",
                    pending_inits.join(" ")
                )
            }),
            ..Default::default()
        },
        cond("ContainersReady", ready, !ready),
        cond("Ready", ready, !ready),
    ]
}

fn container_status(
    plan: &PodPlan,
    view: &ContainerView<'_>,
    book: &RestartBook,
) -> ContainerStatus {
    let restart_count = book
        .restart_count(&plan.uid, &view.plan.name)
        .max(view.observed.map_or(0, |o| o.restart_count));
    let mut status = ContainerStatus {
        name: view.plan.name.clone(),
        image: view.plan.image.clone(),
        image_id: view
            .observed
            .map(|o| o.image_id.clone())
            .unwrap_or_default(),
        container_id: view.observed.map(|o| o.id.clone()),
        ready: view.ready,
        started: Some(view.started),
        restart_count: i32::try_from(restart_count).unwrap_or(i32::MAX),
        state: ContainerState::default(),
        last_state: ContainerState::default(),
    };
    let Some(observed) = view.observed else {
        status.state.waiting = Some(if view.plan.config_error.is_empty() {
            waiting(REASON_CONTAINER_CREATING, None)
        } else {
            waiting(
                REASON_CREATE_CONTAINER_CONFIG_ERROR,
                Some(view.plan.config_error.clone()),
            )
        });
        return status;
    };
    match observed.state {
        ObservedState::Created => {
            status.state.waiting = Some(waiting(REASON_CONTAINER_CREATING, None))
        }
        ObservedState::Running { started_at_ms } => {
            status.state.running = Some(StateRunning {
                started_at: time(started_at_ms),
            });
        }
        ObservedState::Exited { .. } => {
            let terminated = terminated(&observed.state, &observed.id);
            if let Some(ExitedVerdict::BackOff { .. }) = view.verdict {
                // Kubernetes shows a crash-looping container as waiting, with the crash that
                // put it there as its last state.
                let backoff_s = book
                    .entry(&plan.uid, &view.plan.name)
                    .map_or(0, |e| e.backoff_ms / 1000);
                let message = format!(
                    "back-off {backoff_s}s restarting failed container={} pod={}_{}({})",
                    view.plan.name, plan.name, plan.namespace, plan.uid
                );
                status.state.waiting = Some(waiting(REASON_CRASH_LOOP_BACK_OFF, Some(message)));
                status.last_state.terminated = terminated;
            } else {
                status.state.terminated = terminated;
            }
        }
    }
    status
}

fn waiting(reason: &str, message: Option<String>) -> StateWaiting {
    StateWaiting {
        reason: Some(reason.to_string()),
        message,
    }
}

fn terminated(state: &ObservedState, container_id: &str) -> Option<StateTerminated> {
    let ObservedState::Exited {
        exit_code,
        started_at_ms,
        finished_at_ms,
        oom_killed,
    } = *state
    else {
        return None;
    };
    let reason = if oom_killed {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    };
    Some(StateTerminated {
        exit_code,
        reason: Some(reason.to_string()),
        message: None,
        started_at: time(started_at_ms),
        finished_at: time(finished_at_ms),
        container_id: Some(container_id.to_string()),
    })
}

/// Kubernetes' `startTime`: when the node took the pod on. The runtime's pod creation time,
/// else the earliest container start.
fn start_time_ms(pod: &ObservedPod) -> Option<u64> {
    pod.created_at_ms.filter(|ms| *ms > 0).or_else(|| {
        pod.containers
            .iter()
            .filter_map(|c| match c.state {
                ObservedState::Running { started_at_ms }
                | ObservedState::Exited { started_at_ms, .. } => Some(started_at_ms),
                ObservedState::Created => None,
            })
            .filter(|ms| *ms > 0)
            .min()
    })
}

/// A runtime time as Kubernetes' `metav1.Time`; 0 means unknown.
fn time(ms: u64) -> Option<String> {
    (ms > 0).then(|| rfc3339_from_ms(ms))
}

#[cfg(test)]
mod tests {
    use shoal_transport::wire::RestartPolicy;

    use super::*;
    use crate::pods::fixtures::{self, exited, running, NOW, S};

    fn status_of(
        plan: &PodPlan,
        observed: Option<&ObservedPod>,
        book: &RestartBook,
        now: u64,
        host_ip: &str,
    ) -> PodStatus {
        pod_status(plan, observed, book, &ProbeBook::new(), now, host_ip)
    }

    fn plan(policy: RestartPolicy, containers: &[&str]) -> PodPlan {
        fixtures::plan("u1", "web", policy, containers)
    }

    fn observed(containers: &[(&str, ObservedState)]) -> ObservedPod {
        fixtures::observed("u1", "web", containers)
    }

    fn condition<'a>(st: &'a PodStatus, type_: &str) -> &'a str {
        st.conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map_or("missing", |c| c.status.as_str())
    }

    #[test]
    fn phase_table() {
        use ObservedState::Created;
        use RestartPolicy::{Always, Never, OnFailure};
        type Case = (
            RestartPolicy,
            Option<Vec<(&'static str, ObservedState)>>,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (Always, None, "Pending"),
            (Always, Some(vec![("a", running())]), "Pending"), // "b" not created yet
            (
                Always,
                Some(vec![("a", running()), ("b", Created)]),
                "Pending",
            ),
            (
                Always,
                Some(vec![("a", running()), ("b", running())]),
                "Running",
            ),
            (
                Always,
                Some(vec![("a", exited(0)), ("b", exited(0))]),
                "Running",
            ),
            (
                Always,
                Some(vec![("a", exited(1)), ("b", exited(1))]),
                "Running",
            ),
            (
                OnFailure,
                Some(vec![("a", exited(0)), ("b", exited(0))]),
                "Succeeded",
            ),
            (
                OnFailure,
                Some(vec![("a", exited(0)), ("b", exited(1))]),
                "Running",
            ),
            (
                OnFailure,
                Some(vec![("a", running()), ("b", exited(0))]),
                "Running",
            ),
            (
                Never,
                Some(vec![("a", exited(0)), ("b", exited(0))]),
                "Succeeded",
            ),
            (
                Never,
                Some(vec![("a", exited(0)), ("b", exited(2))]),
                "Failed",
            ),
            (
                Never,
                Some(vec![("a", running()), ("b", exited(2))]),
                "Running",
            ),
        ];
        for (policy, obs, want) in cases {
            let p = plan(policy, &["a", "b"]);
            let obs = obs.map(|c| observed(&c));
            let st = status_of(&p, obs.as_ref(), &RestartBook::new(), NOW, "192.168.1.10");
            assert_eq!(st.phase, want, "{policy:?} {obs:?}");
        }
    }

    #[test]
    fn deleting_pod_terminates_even_under_always() {
        let mut p = plan(RestartPolicy::Always, &["a"]);
        p.deletion_grace_period_seconds = Some(30);
        let st = status_of(
            &p,
            Some(&observed(&[("a", exited(0))])),
            &RestartBook::new(),
            NOW,
            "",
        );
        assert_eq!(st.phase, "Succeeded");
        let st = status_of(
            &p,
            Some(&observed(&[("a", exited(143))])),
            &RestartBook::new(),
            NOW,
            "",
        );
        assert_eq!(st.phase, "Failed");
    }

    #[test]
    fn running_pod_is_ready_with_ips_and_times() {
        let p = plan(RestartPolicy::Always, &["a"]);
        let st = status_of(
            &p,
            Some(&observed(&[("a", running())])),
            &RestartBook::new(),
            NOW,
            "192.168.1.10",
        );
        assert_eq!(st.phase, "Running");
        for c in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert_eq!(condition(&st, c), "True", "{c}");
        }
        assert_eq!(st.pod_ip.as_deref(), Some("10.88.0.7"));
        assert_eq!(st.host_ip.as_deref(), Some("192.168.1.10"));
        assert_eq!(st.start_time, Some(rfc3339_from_ms(NOW - 100 * S)));
        let c = &st.container_statuses[0];
        assert!(c.ready);
        assert_eq!(c.started, Some(true));
        assert_eq!(c.container_id.as_deref(), Some("fake://a"));
        assert_eq!(c.image_id, "sha256:abc");
        assert_eq!(
            c.state.running.as_ref().and_then(|r| r.started_at.clone()),
            Some(rfc3339_from_ms(NOW - 50 * S))
        );
    }

    #[test]
    fn host_network_pod_ip_is_the_host_ip() {
        let mut p = plan(RestartPolicy::Always, &["a"]);
        p.host_network = true;
        let mut obs = observed(&[("a", running())]);
        obs.pod_ip = None;
        let st = status_of(&p, Some(&obs), &RestartBook::new(), NOW, "127.0.0.2");
        assert_eq!(st.pod_ip.as_deref(), Some("127.0.0.2"));
    }

    #[test]
    fn pending_pod_waits_in_container_creating() {
        let p = plan(RestartPolicy::Always, &["a", "b"]);
        let st = status_of(&p, None, &RestartBook::new(), NOW, "");
        assert_eq!(st.phase, "Pending");
        assert_eq!(st.host_ip, None);
        assert_eq!(st.start_time, None);
        assert_eq!(condition(&st, "Ready"), "False");
        let ready = st
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .expect("Ready");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(
            ready.message.as_deref(),
            Some("containers with unready status: [a b]")
        );
        for c in &st.container_statuses {
            assert_eq!(
                c.state.waiting.as_ref().and_then(|w| w.reason.as_deref()),
                Some(REASON_CONTAINER_CREATING)
            );
            assert!(!c.ready);
        }
    }

    #[test]
    fn terminated_reasons() {
        let oom = ObservedState::Exited {
            exit_code: 137,
            started_at_ms: NOW - 9 * S,
            finished_at_ms: NOW - S,
            oom_killed: true,
        };
        let cases = [
            (exited(0), "Completed", 0),
            (exited(3), "Error", 3),
            (oom, "OOMKilled", 137),
        ];
        for (state, reason, code) in cases {
            let p = plan(RestartPolicy::Never, &["a"]);
            let st = status_of(
                &p,
                Some(&observed(&[("a", state)])),
                &RestartBook::new(),
                NOW,
                "",
            );
            let t = st.container_statuses[0]
                .state
                .terminated
                .clone()
                .expect("terminated");
            assert_eq!((t.reason.as_deref(), t.exit_code), (Some(reason), code));
            assert_eq!(t.container_id.as_deref(), Some("fake://a"));
            assert!(t.finished_at.is_some());
            assert_eq!(condition(&st, "Ready"), "False");
            let ready = st
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .expect("Ready");
            assert_eq!(ready.reason.as_deref(), Some("PodCompleted"));
        }
    }

    #[test]
    fn crash_loop_back_off_is_waiting_with_last_state_and_count() {
        let p = plan(RestartPolicy::Always, &["a"]);
        let mut book = RestartBook::new();
        book.record_restart("u1", "a", NOW - 10 * S);
        book.record_restart("u1", "a", NOW - 6 * S); // back-off now 20 s
        let st = status_of(&p, Some(&observed(&[("a", exited(1))])), &book, NOW, "");
        assert_eq!(st.phase, "Running");
        let c = &st.container_statuses[0];
        assert_eq!(c.restart_count, 2);
        let w = c.state.waiting.clone().expect("waiting");
        assert_eq!(w.reason.as_deref(), Some(REASON_CRASH_LOOP_BACK_OFF));
        assert_eq!(
            w.message.as_deref(),
            Some("back-off 20s restarting failed container=a pod=web_default(u1)")
        );
        assert_eq!(
            c.last_state.terminated.as_ref().map(|t| t.exit_code),
            Some(1)
        );
        assert!(c.state.terminated.is_none());
        // Once the back-off is over the restart is due: the state is the plain termination.
        let st = status_of(
            &p,
            Some(&observed(&[("a", exited(1))])),
            &book,
            NOW + 60 * S,
            "",
        );
        let c = &st.container_statuses[0];
        assert!(c.state.waiting.is_none());
        assert_eq!(
            c.state
                .terminated
                .as_ref()
                .and_then(|t| t.reason.as_deref()),
            Some("Error")
        );
    }

    #[test]
    fn restart_count_takes_the_larger_of_book_and_runtime() {
        let p = plan(RestartPolicy::Always, &["a"]);
        let mut obs = observed(&[("a", running())]);
        obs.containers[0].restart_count = 4;
        let mut book = RestartBook::new();
        book.record_restart("u1", "a", NOW - 100 * S);
        let st = status_of(&p, Some(&obs), &book, NOW, "");
        assert_eq!(st.container_statuses[0].restart_count, 4);
    }

    #[test]
    fn status_serializes_kubernetes_shaped() {
        let p = plan(RestartPolicy::Never, &["a"]);
        let st = status_of(
            &p,
            Some(&observed(&[("a", exited(0))])),
            &RestartBook::new(),
            NOW,
            "10.0.0.1",
        );
        let v = serde_json::to_value(&st).expect("serializes");
        assert_eq!(v["phase"], "Succeeded");
        assert_eq!(v["hostIP"], "10.0.0.1");
        assert_eq!(
            v["containerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        assert_eq!(v["conditions"][3]["type"], "Ready");
    }

    fn run(at: u64) -> ObservedState {
        ObservedState::Running { started_at_ms: at }
    }

    fn done(code: i32) -> ObservedState {
        ObservedState::Exited {
            exit_code: code,
            started_at_ms: NOW - 20 * S,
            finished_at_ms: NOW - 10 * S,
            oom_killed: false,
        }
    }

    fn init_plan(policy: RestartPolicy) -> PodPlan {
        let mut p = plan(policy, &["web"]);
        p.init_containers = vec![ContainerPlan {
            name: "setup".into(),
            image: "busybox".into(),
            ..Default::default()
        }];
        p
    }

    fn cond<'a>(st: &'a PodStatus, t: &str) -> &'a str {
        st.conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| c.status.as_str())
            .unwrap_or("")
    }

    #[test]
    fn init_containers_in_status() {
        let p = init_plan(RestartPolicy::Always);
        // Running init: Pending, not initialized, app waits in PodInitializing.
        let st = status_of(
            &p,
            Some(&observed(&[("setup", run(NOW - S))])),
            &RestartBook::new(),
            NOW,
            "",
        );
        assert_eq!(st.phase, "Pending");
        assert_eq!(cond(&st, "Initialized"), "False");
        assert_eq!(st.init_container_statuses.len(), 1);
        assert!(st.init_container_statuses[0].state.running.is_some());
        assert_eq!(
            st.container_statuses[0]
                .state
                .waiting
                .as_ref()
                .and_then(|w| w.reason.as_deref()),
            Some(REASON_POD_INITIALIZING)
        );
        // Completed init, app running: Running, initialized, init ready + Completed.
        let obs = observed(&[("setup", done(0)), ("web", run(NOW - S))]);
        let st = status_of(&p, Some(&obs), &RestartBook::new(), NOW, "");
        assert_eq!(st.phase, "Running");
        assert_eq!(cond(&st, "Initialized"), "True");
        assert_eq!(cond(&st, "Ready"), "True");
        let init = &st.init_container_statuses[0];
        assert!(init.ready);
        assert_eq!(
            init.state
                .terminated
                .as_ref()
                .and_then(|t| t.reason.as_deref()),
            Some("Completed")
        );
        // Failed init under Never: the pod failed.
        let p = init_plan(RestartPolicy::Never);
        let st = status_of(
            &p,
            Some(&observed(&[("setup", done(2))])),
            &RestartBook::new(),
            NOW,
            "",
        );
        assert_eq!(st.phase, "Failed");
        // ... and under Always it is retried: still Pending.
        let p = init_plan(RestartPolicy::Always);
        let st = status_of(
            &p,
            Some(&observed(&[("setup", done(2))])),
            &RestartBook::new(),
            NOW,
            "",
        );
        assert_eq!(st.phase, "Pending");
    }

    #[test]
    fn config_errors_are_reported_as_waiting() {
        let mut p = plan(RestartPolicy::Always, &["web"]);
        p.containers[0].config_error = "configmap \"app\" not found".into();
        let st = status_of(&p, None, &RestartBook::new(), NOW, "");
        let w = st.container_statuses[0]
            .state
            .waiting
            .as_ref()
            .expect("waiting");
        assert_eq!(
            w.reason.as_deref(),
            Some(REASON_CREATE_CONTAINER_CONFIG_ERROR)
        );
        assert_eq!(w.message.as_deref(), Some("configmap \"app\" not found"));
        assert_eq!(st.phase, "Pending");
    }

    #[test]
    fn readiness_probe_drives_ready() {
        use shoal_transport::wire::{ProbeAction, ProbePlan};
        let mut p = plan(RestartPolicy::Always, &["web"]);
        p.containers[0].readiness_probe = Some(ProbePlan {
            action: ProbeAction::TcpSocket {
                host: String::new(),
                port: 80,
            },
            initial_delay_seconds: 0,
            period_seconds: 1,
            timeout_seconds: 1,
            success_threshold: 1,
            failure_threshold: 1,
        });
        let started = NOW - 5 * S;
        let obs = observed(&[("web", run(started))]);
        let mut probes = ProbeBook::new();
        let st = pod_status(&p, Some(&obs), &RestartBook::new(), &probes, NOW, "");
        assert_eq!(st.phase, "Running");
        assert_eq!(cond(&st, "Ready"), "False");
        assert!(!st.container_statuses[0].ready);
        assert_eq!(st.container_statuses[0].started, Some(true));
        let due = probes.due("u1", &p.containers[0], started, NOW).remove(0);
        probes.record(&due, true, "", NOW);
        let st = pod_status(&p, Some(&obs), &RestartBook::new(), &probes, NOW, "");
        assert_eq!(cond(&st, "Ready"), "True");
        assert!(st.container_statuses[0].ready);
        probes.record(&due, false, "refused", NOW + S);
        let st = pod_status(&p, Some(&obs), &RestartBook::new(), &probes, NOW + S, "");
        assert_eq!(cond(&st, "ContainersReady"), "False");
    }
}
