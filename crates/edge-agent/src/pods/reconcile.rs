//! Reconcile: from the pods this node should run and the pods the runtime reports, the runtime
//! calls that close the gap.
//!
//! Level-triggered (kube-runtime style): [`reconcile`] does not know or care why it was called.
//! Given the same inputs it returns the same effects, and a node that already matches its
//! desired state gets none. That is what makes offline convergence safe: after a reboot or a
//! reconnect the agent simply reconciles, and healthy pods are left running.
//!
//! Rules, per desired pod:
//! - being deleted (`deletion_grace_period_seconds` set): stop it within that grace period if
//!   anything still runs; never start or restart anything in it;
//! - init containers first, one at a time in order: the first that has not exited 0 is
//!   started ([`Effect::StartInit`]), waited for while it runs, restarted with back-off when it
//!   failed (unless the policy is `Never`, which fails the pod). A pod whose application
//!   containers exist already is initialized (after an agent restart, say);
//! - absent, or with containers that are missing or never started: [`Effect::StartPod`];
//!   containers whose plan carries a `config_error` are left out until the hub resolves it;
//! - projected volumes whose files on disk are not the plan's: [`Effect::SyncVolumes`];
//! - a running container that failed its liveness or startup probe:
//!   [`Effect::KillContainer`] (the restart policy then brings it back, with back-off);
//! - a container that exited and that the restart policy wants back: [`Effect::RestartContainer`]
//!   once its back-off (see [`super::restart`]) is over, nothing while it lasts; the caller asks
//!   [`next_wake_ms`] when to look again.
//!
//! Observed pods that are not desired are removed with [`ORPHAN_GRACE`].

use std::collections::BTreeSet;
use std::time::Duration;

use shoal_transport::wire::PodPlan;

use super::probe::ProbeBook;
use super::restart::{effective_policy, should_restart, RestartBook};
use crate::runtime::{projected, ObservedPod, ObservedState};

/// Grace period for stopping a pod that is no longer desired at all (its plan, and with it its
/// own grace period, is gone). Kubernetes' default `terminationGracePeriodSeconds`.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(30);

/// One runtime call the caller should make.
///
/// The caller carries effects out in order, and after each [`Effect::RestartContainer`] that
/// succeeded calls [`RestartBook::record_restart`]; after [`Effect::RemovePod`] it may
/// [`RestartBook::forget_pod`]. A failed effect needs no bookkeeping: the next reconcile
/// returns it again, so failures map to a requeue with the caller's own back-off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `ContainerRuntime::start_pod(plan)`: create what is missing and start what never ran.
    StartPod(Box<PodPlan>),
    /// `ContainerRuntime::start_init_container(plan, container)`: create the pod if needed,
    /// then create and start this init container.
    StartInit {
        plan: Box<PodPlan>,
        container: String,
    },
    /// `ContainerRuntime::restart_container(uid, container)`.
    RestartContainer { uid: String, container: String },
    /// `ContainerRuntime::sync_volumes(plan)`: rewrite projected volumes (ConfigMap, Secret)
    /// whose files changed, without touching the containers.
    SyncVolumes(Box<PodPlan>),
    /// `ContainerRuntime::stop_container(uid, container, grace)`: a probe failed for good.
    KillContainer {
        uid: String,
        container: String,
        grace: Duration,
    },
    /// `ContainerRuntime::stop_pod(uid, grace)`: the pod is being deleted.
    StopPod { uid: String, grace: Duration },
    /// `ContainerRuntime::stop_pod(uid, grace)` then `ContainerRuntime::remove_pod(uid)`: the
    /// pod is no longer desired on this node.
    RemovePod { uid: String, grace: Duration },
}

/// What one exited container of a desired pod needs, given the restart policy and back-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitedVerdict {
    /// The policy does not restart it: it stays terminated.
    Final,
    /// Restart now.
    RestartDue,
    /// Restart, but not before `until_ms`.
    BackOff { until_ms: u64 },
}

/// Judges a container of `plan` that is in `state`; `None` unless it has exited.
pub(crate) fn exited_verdict(
    plan: &PodPlan,
    container: &str,
    state: &ObservedState,
    book: &RestartBook,
    now_ms: u64,
) -> Option<ExitedVerdict> {
    let ObservedState::Exited {
        exit_code,
        finished_at_ms,
        ..
    } = *state
    else {
        return None;
    };
    if !should_restart(effective_policy(plan), exit_code) {
        return Some(ExitedVerdict::Final);
    }
    let due = book.restart_due_at(&plan.uid, container, finished_at_ms);
    Some(if now_ms >= due {
        ExitedVerdict::RestartDue
    } else {
        ExitedVerdict::BackOff { until_ms: due }
    })
}

/// The effects that bring `observed` to `desired`. Pure: the same inputs give the same output.
pub fn reconcile(
    desired: &[PodPlan],
    observed: &[ObservedPod],
    book: &RestartBook,
    probes: &ProbeBook,
    now_ms: u64,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut desired_uids = BTreeSet::new();
    for plan in desired {
        // Design: a UID listed twice is one pod; the first plan wins, so the output never
        // contains two competing effects for the same pod.
        if !desired_uids.insert(plan.uid.as_str()) {
            continue;
        }
        let pod = observed.iter().find(|p| p.uid == plan.uid);
        reconcile_pod(plan, pod, book, probes, now_ms, &mut effects);
    }
    let mut removed = BTreeSet::new();
    for pod in observed {
        if !desired_uids.contains(pod.uid.as_str()) && removed.insert(pod.uid.as_str()) {
            effects.push(Effect::RemovePod {
                uid: pod.uid.clone(),
                grace: ORPHAN_GRACE,
            });
        }
    }
    effects
}

fn reconcile_pod(
    plan: &PodPlan,
    pod: Option<&ObservedPod>,
    book: &RestartBook,
    probes: &ProbeBook,
    now_ms: u64,
    effects: &mut Vec<Effect>,
) {
    if let Some(grace) = plan.deletion_grace_period_seconds {
        let anything_runs = pod.is_some_and(|p| p.containers.iter().any(|c| c.state.is_running()));
        if anything_runs {
            effects.push(Effect::StopPod {
                uid: plan.uid.clone(),
                grace: Duration::from_secs(grace),
            });
        }
        return;
    }
    if let Some(pod) = pod {
        if volumes_stale(plan, pod) {
            effects.push(Effect::SyncVolumes(Box::new(plan.clone())));
        }
    }
    if !initialized(plan, pod) {
        reconcile_init(plan, pod, book, now_ms, effects);
        return;
    }
    let Some(pod) = pod else {
        effects.push(Effect::StartPod(Box::new(plan.clone())));
        return;
    };
    let needs_start = plan
        .containers
        .iter()
        .filter(|c| c.config_error.is_empty())
        .any(|c| {
            pod.container(&c.name)
                .is_none_or(|o| o.state == ObservedState::Created)
        });
    if needs_start {
        effects.push(Effect::StartPod(Box::new(plan.clone())));
    }
    for container in &plan.containers {
        let Some(observed) = pod.container(&container.name) else {
            continue;
        };
        if let ObservedState::Running { started_at_ms } = observed.state {
            if probes.view(&plan.uid, container, started_at_ms).kill {
                effects.push(Effect::KillContainer {
                    uid: plan.uid.clone(),
                    container: container.name.clone(),
                    grace: Duration::from_secs(plan.termination_grace_period_seconds),
                });
            }
        }
        if exited_verdict(plan, &container.name, &observed.state, book, now_ms)
            == Some(ExitedVerdict::RestartDue)
        {
            effects.push(Effect::RestartContainer {
                uid: plan.uid.clone(),
                container: container.name.clone(),
            });
        }
    }
}

/// Whether the pod is past its init containers: it has none, they all exited 0, or its
/// application containers exist already (they are only ever created after the inits).
pub(crate) fn initialized(plan: &PodPlan, pod: Option<&ObservedPod>) -> bool {
    if plan.init_containers.is_empty() {
        return true;
    }
    let Some(pod) = pod else { return false };
    let apps_exist = plan
        .containers
        .iter()
        .any(|c| pod.container(&c.name).is_some());
    apps_exist
        || plan.init_containers.iter().all(|c| {
            matches!(
                pod.container(&c.name).map(|o| o.state),
                Some(ObservedState::Exited { exit_code: 0, .. })
            )
        })
}

/// The init container to act on: the first that has not exited 0.
fn reconcile_init(
    plan: &PodPlan,
    pod: Option<&ObservedPod>,
    book: &RestartBook,
    now_ms: u64,
    effects: &mut Vec<Effect>,
) {
    for init in &plan.init_containers {
        let state = pod.and_then(|p| p.container(&init.name)).map(|o| o.state);
        match state {
            Some(ObservedState::Exited { exit_code: 0, .. }) => continue,
            None | Some(ObservedState::Created) => {
                if init.config_error.is_empty() {
                    effects.push(Effect::StartInit {
                        plan: Box::new(plan.clone()),
                        container: init.name.clone(),
                    });
                }
            }
            Some(ObservedState::Running { .. }) => {}
            Some(state @ ObservedState::Exited { .. }) => {
                if exited_verdict(plan, &init.name, &state, book, now_ms)
                    == Some(ExitedVerdict::RestartDue)
                {
                    effects.push(Effect::RestartContainer {
                        uid: plan.uid.clone(),
                        container: init.name.clone(),
                    });
                }
            }
        }
        return;
    }
}

/// A projected volume of the plan whose files on disk are not the plan's.
fn volumes_stale(plan: &PodPlan, pod: &ObservedPod) -> bool {
    plan.volumes.iter().any(|v| match v {
        shoal_transport::wire::VolumePlan::Files { name, files } => {
            let want = projected::digest(files);
            !pod.file_volumes
                .iter()
                .any(|(n, d)| n == name && *d == want)
        }
        _ => false,
    })
}

/// The earliest time after `now_ms` at which [`reconcile`] will return something new because a
/// back-off ends; `None` when no container is waiting. The caller schedules its next reconcile
/// no later than this (it reconciles on runtime events and desired-state changes anyway).
pub fn next_wake_ms(
    desired: &[PodPlan],
    observed: &[ObservedPod],
    book: &RestartBook,
    now_ms: u64,
) -> Option<u64> {
    desired
        .iter()
        .filter_map(|plan| Some((plan, observed.iter().find(|p| p.uid == plan.uid)?)))
        .flat_map(|(plan, pod)| {
            plan.init_containers
                .iter()
                .chain(&plan.containers)
                .filter_map(move |c| {
                    let observed = pod.container(&c.name)?;
                    match exited_verdict(plan, &c.name, &observed.state, book, now_ms)? {
                        ExitedVerdict::BackOff { until_ms } => Some(until_ms),
                        ExitedVerdict::Final | ExitedVerdict::RestartDue => None,
                    }
                })
        })
        .min()
}

#[cfg(test)]
mod tests {
    use shoal_transport::wire::{ContainerPlan, RestartPolicy};

    use super::*;
    use crate::pods::fixtures::{self, exited, running, NOW, S};

    fn rec(d: &[PodPlan], o: &[ObservedPod], b: &RestartBook, now: u64) -> Vec<Effect> {
        reconcile(d, o, b, &ProbeBook::new(), now)
    }

    fn plan(uid: &str, policy: RestartPolicy, containers: &[&str]) -> PodPlan {
        fixtures::plan(uid, &format!("pod-{uid}"), policy, containers)
    }

    fn pod(uid: &str, containers: &[(&str, ObservedState)]) -> ObservedPod {
        fixtures::observed(uid, &format!("pod-{uid}"), containers)
    }

    fn restart(uid: &str, c: &str) -> Effect {
        Effect::RestartContainer {
            uid: uid.into(),
            container: c.into(),
        }
    }

    #[test]
    fn absent_pod_is_started() {
        let p = plan("u1", RestartPolicy::Always, &["web"]);
        let effects = rec(std::slice::from_ref(&p), &[], &RestartBook::new(), NOW);
        assert_eq!(effects, vec![Effect::StartPod(Box::new(p))]);
    }

    #[test]
    fn healthy_pod_needs_nothing_and_reconcile_is_idempotent() {
        let desired = [plan("u1", RestartPolicy::Always, &["web", "side"])];
        let observed = [pod("u1", &[("web", running()), ("side", running())])];
        let book = RestartBook::new();
        assert_eq!(rec(&desired, &observed, &book, NOW), vec![]);
        assert_eq!(rec(&desired, &observed, &book, NOW + 3_600 * S), vec![]);
        assert_eq!(next_wake_ms(&desired, &observed, &book, NOW), None);
    }

    #[test]
    fn missing_or_never_started_container_starts_the_pod() {
        let p = plan("u1", RestartPolicy::Always, &["web", "side"]);
        for observed in [
            pod("u1", &[("web", running())]),
            pod(
                "u1",
                &[("web", running()), ("side", ObservedState::Created)],
            ),
        ] {
            let effects = rec(
                std::slice::from_ref(&p),
                &[observed],
                &RestartBook::new(),
                NOW,
            );
            assert_eq!(effects, vec![Effect::StartPod(Box::new(p.clone()))]);
        }
    }

    #[test]
    fn every_restart_policy_by_exit_code() {
        let cases = [
            (RestartPolicy::Always, 0, true),
            (RestartPolicy::Always, 1, true),
            (RestartPolicy::Always, 137, true),
            (RestartPolicy::OnFailure, 0, false),
            (RestartPolicy::OnFailure, 1, true),
            (RestartPolicy::OnFailure, 137, true),
            (RestartPolicy::Never, 0, false),
            (RestartPolicy::Never, 1, false),
            (RestartPolicy::Never, 137, false),
        ];
        for (policy, code, restarts) in cases {
            let desired = [plan("u1", policy, &["web"])];
            let observed = [pod("u1", &[("web", exited(code))])];
            let effects = rec(&desired, &observed, &RestartBook::new(), NOW);
            let want = if restarts {
                vec![restart("u1", "web")]
            } else {
                vec![]
            };
            assert_eq!(effects, want, "{policy:?} exit {code}");
            // Running it twice on the same inputs gives the same answer.
            assert_eq!(rec(&desired, &observed, &RestartBook::new(), NOW), want);
        }
    }

    #[test]
    fn back_off_holds_restarts_until_due() {
        let desired = [plan("u1", RestartPolicy::Always, &["web"])];
        let mut book = RestartBook::new();
        // Restarted at t0, crashed 2 s later: back-off 10 s from the crash.
        let t0 = NOW;
        book.record_restart("u1", "web", t0);
        let crashed = ObservedState::Exited {
            exit_code: 1,
            started_at_ms: t0,
            finished_at_ms: t0 + 2 * S,
            oom_killed: false,
        };
        let observed = [pod("u1", &[("web", crashed)])];
        let table = [
            (t0 + 2 * S, false),
            (t0 + 11 * S, false),
            (t0 + 12 * S - 1, false),
            (t0 + 12 * S, true),
            (t0 + 60 * S, true),
        ];
        for (now, due) in table {
            let want = if due {
                vec![restart("u1", "web")]
            } else {
                vec![]
            };
            assert_eq!(
                rec(&desired, &observed, &book, now),
                want,
                "at +{} ms",
                now - t0
            );
            let wake = next_wake_ms(&desired, &observed, &book, now);
            assert_eq!(wake, if due { None } else { Some(t0 + 12 * S) });
        }
        // After the second restart the back-off doubles.
        book.record_restart("u1", "web", t0 + 12 * S);
        let crashed = ObservedState::Exited {
            exit_code: 1,
            started_at_ms: t0 + 12 * S,
            finished_at_ms: t0 + 13 * S,
            oom_killed: false,
        };
        let observed = [pod("u1", &[("web", crashed)])];
        assert_eq!(rec(&desired, &observed, &book, t0 + 32 * S), vec![]);
        assert_eq!(
            rec(&desired, &observed, &book, t0 + 33 * S),
            vec![restart("u1", "web")]
        );
    }

    #[test]
    fn back_off_is_per_container() {
        let desired = [plan("u1", RestartPolicy::Always, &["a", "b"])];
        let mut book = RestartBook::new();
        book.record_restart("u1", "a", NOW - 6 * S);
        let observed = [pod("u1", &[("a", exited(1)), ("b", exited(1))])];
        // "a" crashed 5 s ago after a restart: in back-off. "b" never restarted: due now.
        assert_eq!(
            rec(&desired, &observed, &book, NOW),
            vec![restart("u1", "b")]
        );
        assert_eq!(
            next_wake_ms(&desired, &observed, &book, NOW),
            Some(NOW + 5 * S)
        );
    }

    #[test]
    fn orphans_are_removed_and_foreign_uids_only_once() {
        let desired = [plan("keep", RestartPolicy::Always, &["web"])];
        let observed = [
            pod("keep", &[("web", running())]),
            pod("gone", &[("web", running())]),
            pod("gone", &[]),
        ];
        let effects = rec(&desired, &observed, &RestartBook::new(), NOW);
        assert_eq!(
            effects,
            vec![Effect::RemovePod {
                uid: "gone".into(),
                grace: ORPHAN_GRACE
            }]
        );
    }

    #[test]
    fn deleting_pod_is_stopped_not_restarted() {
        let mut p = plan("u1", RestartPolicy::Always, &["web", "side"]);
        p.deletion_grace_period_seconds = Some(7);
        let stop = vec![Effect::StopPod {
            uid: "u1".into(),
            grace: Duration::from_secs(7),
        }];
        let table = [
            (
                Some(pod("u1", &[("web", running()), ("side", exited(1))])),
                stop.clone(),
            ),
            (
                Some(pod("u1", &[("web", exited(143)), ("side", exited(1))])),
                vec![],
            ),
            (None, vec![]),
        ];
        for (observed, want) in table {
            let observed: Vec<_> = observed.into_iter().collect();
            assert_eq!(rec(&[p.clone()], &observed, &RestartBook::new(), NOW), want);
        }
    }

    #[test]
    fn duplicate_desired_uid_yields_one_effect() {
        let a = plan("u1", RestartPolicy::Always, &["web"]);
        let mut b = a.clone();
        b.revision = 9;
        assert_eq!(
            rec(&[a.clone(), b], &[], &RestartBook::new(), NOW),
            vec![Effect::StartPod(Box::new(a))]
        );
    }

    #[test]
    fn offline_convergence_touches_only_what_is_wrong() {
        // After a reboot: one pod survived healthy, one is gone, one crashed, one is stale.
        let desired = [
            plan("healthy", RestartPolicy::Always, &["web"]),
            plan("lost", RestartPolicy::Always, &["web"]),
            plan("crashed", RestartPolicy::OnFailure, &["job"]),
            plan("done", RestartPolicy::OnFailure, &["job"]),
        ];
        let observed = [
            pod("healthy", &[("web", running())]),
            pod("crashed", &[("job", exited(2))]),
            pod("done", &[("job", exited(0))]),
            pod("stale", &[("web", running())]),
        ];
        let effects = rec(&desired, &observed, &RestartBook::new(), NOW);
        assert_eq!(
            effects,
            vec![
                Effect::StartPod(Box::new(desired[1].clone())),
                restart("crashed", "job"),
                Effect::RemovePod {
                    uid: "stale".into(),
                    grace: ORPHAN_GRACE
                },
            ]
        );
    }

    fn with_inits(mut p: PodPlan, inits: &[&str]) -> PodPlan {
        p.init_containers = inits
            .iter()
            .map(|n| ContainerPlan {
                name: n.to_string(),
                image: "busybox".into(),
                ..Default::default()
            })
            .collect();
        p
    }

    fn init_pod(uid: &str, containers: &[(&str, ObservedState)]) -> ObservedPod {
        let mut p = pod(uid, containers);
        for c in &mut p.containers {
            c.init = c.name.starts_with("init");
        }
        p
    }

    fn start_init(p: &PodPlan, c: &str) -> Effect {
        Effect::StartInit {
            plan: Box::new(p.clone()),
            container: c.into(),
        }
    }

    #[test]
    fn init_containers_run_one_at_a_time_in_order() {
        let p = with_inits(
            plan("u1", RestartPolicy::Always, &["web"]),
            &["init-a", "init-b"],
        );
        let book = RestartBook::new();
        let table: Vec<(Option<ObservedPod>, Vec<Effect>)> = vec![
            (None, vec![start_init(&p, "init-a")]),
            (
                Some(init_pod("u1", &[("init-a", ObservedState::Created)])),
                vec![start_init(&p, "init-a")],
            ),
            (Some(init_pod("u1", &[("init-a", running())])), vec![]),
            (
                Some(init_pod("u1", &[("init-a", exited(0))])),
                vec![start_init(&p, "init-b")],
            ),
            (
                Some(init_pod(
                    "u1",
                    &[("init-a", exited(0)), ("init-b", running())],
                )),
                vec![],
            ),
            (
                Some(init_pod(
                    "u1",
                    &[("init-a", exited(0)), ("init-b", exited(0))],
                )),
                vec![Effect::StartPod(Box::new(p.clone()))],
            ),
            // Application containers exist: initialized, whatever the inits show (adoption).
            (Some(init_pod("u1", &[("web", running())])), vec![]),
        ];
        for (i, (observed, want)) in table.into_iter().enumerate() {
            let observed: Vec<_> = observed.into_iter().collect();
            assert_eq!(
                rec(std::slice::from_ref(&p), &observed, &book, NOW),
                want,
                "row {i}"
            );
        }
    }

    #[test]
    fn failed_init_restarts_with_back_off_unless_never() {
        for (policy, want_restart) in [
            (RestartPolicy::Always, true),
            (RestartPolicy::OnFailure, true),
            (RestartPolicy::Never, false),
        ] {
            let p = with_inits(plan("u1", policy, &["web"]), &["init-a"]);
            let observed = [init_pod("u1", &[("init-a", exited(1))])];
            let want = if want_restart {
                vec![restart("u1", "init-a")]
            } else {
                vec![]
            };
            assert_eq!(
                rec(
                    std::slice::from_ref(&p),
                    &observed,
                    &RestartBook::new(),
                    NOW
                ),
                want,
                "{policy:?}"
            );
        }
        // After a restart the init container waits out its back-off like any other.
        let p = with_inits(plan("u1", RestartPolicy::Always, &["web"]), &["init-a"]);
        let mut book = RestartBook::new();
        book.record_restart("u1", "init-a", NOW - 6 * S);
        let observed = [init_pod("u1", &[("init-a", exited(1))])];
        assert_eq!(rec(std::slice::from_ref(&p), &observed, &book, NOW), vec![]);
        assert_eq!(
            next_wake_ms(std::slice::from_ref(&p), &observed, &book, NOW),
            Some(NOW + 5 * S)
        );
    }

    #[test]
    fn containers_with_config_errors_are_not_started() {
        let mut p = plan("u1", RestartPolicy::Always, &["web", "side"]);
        p.containers[1].config_error = "configmap \"x\" not found".into();
        let observed = [pod("u1", &[("web", running())])];
        assert_eq!(
            rec(
                std::slice::from_ref(&p),
                &observed,
                &RestartBook::new(),
                NOW
            ),
            vec![]
        );
        p.containers[1].config_error.clear();
        assert_eq!(
            rec(
                std::slice::from_ref(&p),
                &observed,
                &RestartBook::new(),
                NOW
            ),
            vec![Effect::StartPod(Box::new(p.clone()))]
        );
    }

    #[test]
    fn stale_projected_volumes_are_synced() {
        use shoal_transport::wire::{FilePlan, VolumePlan};
        let mut p = plan("u1", RestartPolicy::Always, &["web"]);
        let files = vec![FilePlan {
            path: "a".into(),
            data: b"1".to_vec(),
            mode: 0o644,
        }];
        p.volumes.push(VolumePlan::Files {
            name: "cfg".into(),
            files: files.clone(),
        });
        let mut observed = pod("u1", &[("web", running())]);
        observed.file_volumes = vec![("cfg".into(), "0000".into())];
        assert_eq!(
            rec(
                std::slice::from_ref(&p),
                std::slice::from_ref(&observed),
                &RestartBook::new(),
                NOW
            ),
            vec![Effect::SyncVolumes(Box::new(p.clone()))]
        );
        observed.file_volumes = vec![("cfg".into(), projected::digest(&files))];
        assert_eq!(
            rec(
                std::slice::from_ref(&p),
                &[observed],
                &RestartBook::new(),
                NOW
            ),
            vec![]
        );
    }

    #[test]
    fn failed_liveness_kills_the_container() {
        use shoal_transport::wire::{ProbeAction, ProbePlan};
        let mut p = plan("u1", RestartPolicy::Always, &["web"]);
        p.containers[0].liveness_probe = Some(ProbePlan {
            action: ProbeAction::Exec {
                command: vec!["false".into()],
            },
            initial_delay_seconds: 0,
            period_seconds: 1,
            timeout_seconds: 1,
            success_threshold: 1,
            failure_threshold: 1,
        });
        let started = NOW - 50 * S;
        let observed = [pod("u1", &[("web", running())])];
        let mut probes = ProbeBook::new();
        assert_eq!(
            reconcile(
                std::slice::from_ref(&p),
                &observed,
                &RestartBook::new(),
                &probes,
                NOW
            ),
            vec![]
        );
        let due = probes.due("u1", &p.containers[0], started, NOW).remove(0);
        probes.record(&due, false, "exit 1", NOW);
        assert_eq!(
            reconcile(
                std::slice::from_ref(&p),
                &observed,
                &RestartBook::new(),
                &probes,
                NOW
            ),
            vec![Effect::KillContainer {
                uid: "u1".into(),
                container: "web".into(),
                grace: Duration::from_secs(30)
            }]
        );
    }
}
