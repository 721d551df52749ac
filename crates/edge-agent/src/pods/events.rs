//! Kubelet-style events about pods, derived from what the PodManager did and saw. Pure: the
//! PodManager calls these with the outcome of a runtime call, a probe result or two statuses,
//! and hands the events to the StatusReporter, whose [`crate::event_recorder`] aggregates and
//! rate-limits them before they go out on MQTT.
//!
//! Reasons and messages follow kubelet's, so `kubectl describe pod` reads as usual:
//!
//! | reason | type | when |
//! |---|---|---|
//! | `Created`, `Started` | Normal | a container (init or app) was created and started, also on every restart |
//! | `Killing` | Normal | a container is stopped: its liveness/startup probe failed, or the pod is being deleted |
//! | `Failed` | Warning | a runtime call failed, or a container cannot start for a config error |
//! | `BackOff` | Warning | a crashed container waits in `CrashLoopBackOff` |
//! | `Unhealthy` | Warning | a probe failed |
//!
//! `Pulled` is not reported: the runtimes start from local images and do not tell whether
//! they pulled.

use shoal_transport::status::PodStatus;
use shoal_transport::wire::PodPlan;

use super::{Effect, ProbeKind};

/// One occurrence of an event about a pod (or one of its containers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodEvent {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// `spec.containers{NAME}` / `spec.initContainers{NAME}`; empty for the whole pod.
    pub field_path: String,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

fn event(
    plan: &PodPlan,
    field_path: String,
    warning: bool,
    reason: &'static str,
    message: String,
) -> PodEvent {
    PodEvent {
        uid: plan.uid.clone(),
        namespace: plan.namespace.clone(),
        name: plan.name.clone(),
        field_path,
        warning,
        reason,
        message,
    }
}

/// The field path of container `name` of `plan`.
pub fn field_path(plan: &PodPlan, name: &str) -> String {
    if plan.init_containers.iter().any(|c| c.name == name) {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}

fn created_started(plan: &PodPlan, container: &str) -> [PodEvent; 2] {
    let path = field_path(plan, container);
    [
        event(
            plan,
            path.clone(),
            false,
            "Created",
            format!("Created container {container}"),
        ),
        event(
            plan,
            path,
            false,
            "Started",
            format!("Started container {container}"),
        ),
    ]
}

/// Events for `effect` on the pod of `plan`, which succeeded (`error` is `None`) or failed
/// with `error`.
pub fn for_effect(effect: &Effect, plan: &PodPlan, error: Option<&str>) -> Vec<PodEvent> {
    if let Some(error) = error {
        let path = match effect {
            Effect::StartInit { container, .. }
            | Effect::RestartContainer { container, .. }
            | Effect::KillContainer { container, .. } => field_path(plan, container),
            _ => String::new(),
        };
        return vec![event(plan, path, true, "Failed", format!("Error: {error}"))];
    }
    match effect {
        Effect::StartPod(p) => p
            .containers
            .iter()
            .flat_map(|c| {
                if c.config_error.is_empty() {
                    created_started(plan, &c.name).to_vec()
                } else {
                    vec![event(
                        plan,
                        field_path(plan, &c.name),
                        true,
                        "Failed",
                        format!("Error: {}", c.config_error),
                    )]
                }
            })
            .collect(),
        Effect::StartInit { container, .. } | Effect::RestartContainer { container, .. } => {
            created_started(plan, container).to_vec()
        }
        Effect::KillContainer { container, .. } => vec![event(
            plan,
            field_path(plan, container),
            false,
            "Killing",
            format!(
                "Container {container} failed its liveness or startup probe, will be restarted"
            ),
        )],
        Effect::StopPod { .. } => plan
            .containers
            .iter()
            .map(|c| {
                event(
                    plan,
                    field_path(plan, &c.name),
                    false,
                    "Killing",
                    format!("Stopping container {}", c.name),
                )
            })
            .collect(),
        Effect::SyncVolumes(_) | Effect::RemovePod { .. } => Vec::new(),
    }
}

/// An `Unhealthy` event: `kind` probe of `container` failed with `message`.
pub fn for_probe_failure(
    plan: &PodPlan,
    container: &str,
    kind: ProbeKind,
    message: &str,
) -> PodEvent {
    event(
        plan,
        field_path(plan, container),
        true,
        "Unhealthy",
        format!("{} probe failed: {message}", kind.name()),
    )
}

/// `BackOff` events for containers that entered `CrashLoopBackOff` between `old` and `new`
/// (a new back-off after each crash: a higher restart count, or not waiting in it before).
pub fn for_status(plan: &PodPlan, old: Option<&PodStatus>, new: &PodStatus) -> Vec<PodEvent> {
    let in_backoff = |s: &shoal_transport::status::ContainerStatus| {
        s.state.waiting.as_ref().and_then(|w| w.reason.as_deref()) == Some("CrashLoopBackOff")
    };
    new.init_container_statuses
        .iter()
        .chain(&new.container_statuses)
        .filter(|c| in_backoff(c))
        .filter(|c| {
            let before = old.and_then(|o| {
                o.init_container_statuses
                    .iter()
                    .chain(&o.container_statuses)
                    .find(|p| p.name == c.name)
            });
            !before.is_some_and(|b| in_backoff(b) && b.restart_count == c.restart_count)
        })
        .map(|c| {
            event(
                plan,
                field_path(plan, &c.name),
                true,
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {}_{}({})",
                    c.name, plan.name, plan.namespace, plan.uid
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shoal_transport::status::{ContainerState, ContainerStatus, StateWaiting};
    use shoal_transport::wire::ContainerPlan;

    use super::*;

    fn plan() -> PodPlan {
        PodPlan {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            init_containers: vec![ContainerPlan {
                name: "setup".into(),
                ..Default::default()
            }],
            containers: vec![
                ContainerPlan {
                    name: "app".into(),
                    ..Default::default()
                },
                ContainerPlan {
                    name: "side".into(),
                    config_error: "configmap \"cfg\" not found".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn reasons(evs: &[PodEvent]) -> Vec<(&str, &str, bool)> {
        evs.iter()
            .map(|e| (e.reason, e.field_path.as_str(), e.warning))
            .collect()
    }

    #[test]
    fn effects_map_to_kubelets_reasons() {
        let p = plan();
        let start = Effect::StartPod(Box::new(p.clone()));
        assert_eq!(
            reasons(&for_effect(&start, &p, None)),
            [
                ("Created", "spec.containers{app}", false),
                ("Started", "spec.containers{app}", false),
                ("Failed", "spec.containers{side}", true),
            ]
        );
        assert_eq!(
            for_effect(&start, &p, None)[2].message,
            "Error: configmap \"cfg\" not found"
        );
        let init = Effect::StartInit {
            plan: Box::new(p.clone()),
            container: "setup".into(),
        };
        assert_eq!(
            reasons(&for_effect(&init, &p, None)),
            [
                ("Created", "spec.initContainers{setup}", false),
                ("Started", "spec.initContainers{setup}", false)
            ]
        );
        let restart = Effect::RestartContainer {
            uid: "u1".into(),
            container: "app".into(),
        };
        let failed = for_effect(&restart, &p, Some("no such image"));
        assert_eq!(reasons(&failed), [("Failed", "spec.containers{app}", true)]);
        assert_eq!(failed[0].message, "Error: no such image");
        let kill = Effect::KillContainer {
            uid: "u1".into(),
            container: "app".into(),
            grace: Duration::from_secs(1),
        };
        assert_eq!(
            reasons(&for_effect(&kill, &p, None)),
            [("Killing", "spec.containers{app}", false)]
        );
        let stop = Effect::StopPod {
            uid: "u1".into(),
            grace: Duration::from_secs(1),
        };
        assert_eq!(for_effect(&stop, &p, None).len(), 2);
        assert!(for_effect(&Effect::SyncVolumes(Box::new(p.clone())), &p, None).is_empty());
        let probe = for_probe_failure(&p, "app", ProbeKind::Liveness, "HTTP 500");
        assert_eq!(probe.reason, "Unhealthy");
        assert_eq!(probe.message, "Liveness probe failed: HTTP 500");
    }

    fn status(restarts: i32, reason: &str) -> PodStatus {
        PodStatus {
            phase: "Running".into(),
            container_statuses: vec![ContainerStatus {
                name: "app".into(),
                restart_count: restarts,
                state: ContainerState {
                    waiting: Some(StateWaiting {
                        reason: Some(reason.into()),
                        message: None,
                    }),
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn back_off_is_reported_once_per_crash() {
        let p = plan();
        let first = for_status(&p, None, &status(1, "CrashLoopBackOff"));
        assert_eq!(reasons(&first), [("BackOff", "spec.containers{app}", true)]);
        assert_eq!(
            first[0].message,
            "Back-off restarting failed container app in pod web_default(u1)"
        );
        let same = status(1, "CrashLoopBackOff");
        assert!(
            for_status(&p, Some(&same), &same).is_empty(),
            "still the same back-off"
        );
        assert_eq!(
            for_status(&p, Some(&same), &status(2, "CrashLoopBackOff")).len(),
            1,
            "a new crash, a new back-off"
        );
        assert!(for_status(&p, None, &status(0, "ContainerCreating")).is_empty());
    }
}
