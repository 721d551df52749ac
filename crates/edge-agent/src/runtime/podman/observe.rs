//! Reading Podman's inspect output into the runtime-neutral [`ObservedContainer`] and pod IP.
//!
//! Podman's state names and zero times ("0001-01-01T00:00:00Z" for never) are translated here
//! and nowhere else.

use podman_api::models::{InspectContainerData, InspectContainerState};

use podman_api::models::ListContainer;
use serde_json::Value;

use super::spec::{LABEL_CONTAINER, LABEL_INIT, LABEL_NAME, LABEL_NAMESPACE, LABEL_POD_UID};
use crate::runtime::{ContainerUsage, ObservedContainer, ObservedState};

/// The [`ObservedContainer`] for an inspected application container; `None` for containers
/// without the [`LABEL_CONTAINER`] label (the pod's infra container).
pub fn observed_container(data: &InspectContainerData) -> Option<ObservedContainer> {
    let labels = data.config.as_ref()?.labels.as_ref()?;
    let name = labels.get(LABEL_CONTAINER)?.clone();
    let init = labels.get(LABEL_INIT).is_some_and(|v| v == "true");
    let id = data.id.clone().unwrap_or_default();
    let image_id = data
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .map(|i| format!("sha256:{i}"))
        .unwrap_or_default();
    Some(ObservedContainer {
        name,
        id: format!("podman://{id}"),
        image: data.image_name.clone().unwrap_or_default(),
        image_id,
        state: data
            .state
            .as_ref()
            .map_or(ObservedState::Created, observed_state),
        init,
        restart_count: data
            .restart_count
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
    })
}

/// Podman's container state as an [`ObservedState`].
pub fn observed_state(state: &InspectContainerState) -> ObservedState {
    let started_at_ms = state
        .started_at
        .map_or(0, |t| epoch_ms(t.timestamp_millis()));
    let finished_at_ms = state
        .finished_at
        .map_or(0, |t| epoch_ms(t.timestamp_millis()));
    let exited = ObservedState::Exited {
        exit_code: state.exit_code.unwrap_or(0),
        started_at_ms,
        finished_at_ms,
        oom_killed: state.oom_killed.unwrap_or(false),
    };
    match state.status.as_deref().unwrap_or("") {
        "configured" | "created" | "initialized" => ObservedState::Created,
        // Paused and stopping containers still hold their process: Kubernetes has no such
        // states, they count as running until they really exit.
        "running" | "paused" | "stopping" => ObservedState::Running { started_at_ms },
        "exited" | "stopped" => exited,
        _ if state.running == Some(true) => ObservedState::Running { started_at_ms },
        _ if started_at_ms == 0 && finished_at_ms == 0 => ObservedState::Created,
        _ => exited,
    }
}

/// Podman reports "never" as year 1; anything before the epoch is unknown (0).
fn epoch_ms(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0)
}

/// The IP address of a pod, from its infra container's network settings; `None` when the
/// infra container has no address (not running, host network, ...).
pub fn pod_ip(infra: &InspectContainerData) -> Option<String> {
    let settings = infra.network_settings.as_ref()?;
    let from_networks = settings.networks.as_ref().and_then(|nets| {
        // Deterministic choice when a pod joins several networks: the first by network name.
        let mut nets: Vec<_> = nets.iter().collect();
        nets.sort_by(|a, b| a.0.cmp(b.0));
        nets.into_iter()
            .find_map(|(_, n)| n.ip_address.clone().filter(|ip| !ip.is_empty()))
    });
    from_networks.or_else(|| settings.ip_address.clone().filter(|ip| !ip.is_empty()))
}

/// Usage from libpod's `/containers/stats` answer (`{"Stats": [{"ContainerID", "CPUNano",
/// "MemUsage"}, ...]}`) for the listed containers of ours; entries for anything else are
/// ignored.
pub fn usage(stats: &Value, ours: &[ListContainer]) -> Vec<ContainerUsage> {
    let Some(entries) = stats.get("Stats").and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let id = e.get("ContainerID")?.as_str()?;
            let listed = ours.iter().find(|c| c.id.as_deref() == Some(id))?;
            let labels = listed.labels.as_ref()?;
            Some(ContainerUsage {
                uid: labels.get(LABEL_POD_UID)?.clone(),
                namespace: labels.get(LABEL_NAMESPACE).cloned().unwrap_or_default(),
                pod: labels.get(LABEL_NAME).cloned().unwrap_or_default(),
                container: labels.get(LABEL_CONTAINER)?.clone(),
                cpu_total_ns: e.get("CPUNano").and_then(Value::as_u64).unwrap_or(0),
                memory_bytes: e.get("MemUsage").and_then(Value::as_u64).unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspect(json: serde_json::Value) -> InspectContainerData {
        serde_json::from_value(json).expect("inspect JSON")
    }

    #[test]
    fn states_and_times() {
        let cases = [
            (
                serde_json::json!({"Status": "created", "StartedAt": "0001-01-01T00:00:00Z"}),
                ObservedState::Created,
            ),
            (
                serde_json::json!({"Status": "running", "Running": true, "StartedAt": "2027-01-15T08:00:00.250Z"}),
                ObservedState::Running {
                    started_at_ms: 1_800_000_000_250,
                },
            ),
            (
                serde_json::json!({"Status": "exited", "ExitCode": 137, "OOMKilled": true,
                    "StartedAt": "2027-01-15T08:00:00Z", "FinishedAt": "2027-01-15T08:00:05Z"}),
                ObservedState::Exited {
                    exit_code: 137,
                    started_at_ms: 1_800_000_000_000,
                    finished_at_ms: 1_800_000_005_000,
                    oom_killed: true,
                },
            ),
            (
                serde_json::json!({"Status": "exited", "ExitCode": 127, "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "2027-01-15T08:00:05Z"}),
                ObservedState::Exited {
                    exit_code: 127,
                    started_at_ms: 0,
                    finished_at_ms: 1_800_000_005_000,
                    oom_killed: false,
                },
            ),
        ];
        for (json, want) in cases {
            let state: InspectContainerState =
                serde_json::from_value(json.clone()).expect("state JSON");
            assert_eq!(observed_state(&state), want, "{json}");
        }
    }

    #[test]
    fn container_needs_our_label_and_pod_ip_comes_from_networks() {
        let app = inspect(serde_json::json!({
            "Id": "abc", "Image": "71c9", "ImageName": "localhost/busybox:latest", "RestartCount": 0,
            "Config": {"Labels": {"io.shoal.container": "web"}},
            "State": {"Status": "running", "StartedAt": "2027-01-15T08:00:00Z"}
        }));
        let c = observed_container(&app).expect("ours");
        assert_eq!(
            (c.name.as_str(), c.id.as_str(), c.image_id.as_str()),
            ("web", "podman://abc", "sha256:71c9")
        );
        let infra = inspect(serde_json::json!({
            "Id": "def", "Config": {"Labels": {"io.shoal.pod-uid": "u"}},
            "NetworkSettings": {"IPAddress": "", "Networks": {"podman": {"IPAddress": "10.88.0.9"}}}
        }));
        assert!(
            observed_container(&infra).is_none(),
            "the infra container is not an app container"
        );
        assert_eq!(pod_ip(&infra).as_deref(), Some("10.88.0.9"));
        let down =
            inspect(serde_json::json!({"NetworkSettings": {"IPAddress": "", "Networks": {}}}));
        assert_eq!(pod_ip(&down), None);
    }
}
