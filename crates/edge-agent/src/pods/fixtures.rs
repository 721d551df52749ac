//! Fixtures shared by the pod core's table tests: plans, observed pods and container states
//! at a fixed clock.

use shoal_transport::wire::{ContainerPlan, PodPlan, RestartPolicy};

use crate::runtime::{ObservedContainer, ObservedPod, ObservedState};

pub const S: u64 = 1000;
pub const NOW: u64 = 1_800_000_000_000;

/// A pod plan with one busybox container per name.
pub fn plan(uid: &str, name: &str, policy: RestartPolicy, containers: &[&str]) -> PodPlan {
    PodPlan {
        uid: uid.into(),
        namespace: "default".into(),
        name: name.into(),
        restart_policy: policy,
        termination_grace_period_seconds: 30,
        containers: containers
            .iter()
            .map(|n| ContainerPlan {
                name: n.to_string(),
                image: "busybox".into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// What a runtime reports for that pod, with its containers in the given states.
pub fn observed(uid: &str, name: &str, containers: &[(&str, ObservedState)]) -> ObservedPod {
    ObservedPod {
        uid: uid.into(),
        namespace: "default".into(),
        name: name.into(),
        pod_ip: Some("10.88.0.7".into()),
        created_at_ms: Some(NOW - 100 * S),
        file_volumes: Vec::new(),
        containers: containers
            .iter()
            .map(|(n, state)| ObservedContainer {
                name: n.to_string(),
                id: format!("fake://{n}"),
                image: "busybox".into(),
                image_id: "sha256:abc".into(),
                state: *state,
                init: false,
                restart_count: 0,
            })
            .collect(),
    }
}

/// Running since 50 s ago.
pub fn running() -> ObservedState {
    ObservedState::Running {
        started_at_ms: NOW - 50 * S,
    }
}

/// Exited 5 s ago with `code`, after running 45 s.
pub fn exited(code: i32) -> ObservedState {
    ObservedState::Exited {
        exit_code: code,
        started_at_ms: NOW - 50 * S,
        finished_at_ms: NOW - 5 * S,
        oom_killed: false,
    }
}
