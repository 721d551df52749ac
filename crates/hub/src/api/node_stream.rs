//! What `pods/log` and `pods/exec` share: finding the pod and its container, reaching the pod's
//! node, and opening a stream to the agent that runs it.
//!
//! The pure half ([`resolve_container`], [`check_previous`], [`failure_error`]) answers with
//! the errors Kubernetes gives for the same mistakes; [`open`] is the I/O: one new bi-stream on
//! the node's QUIC connection per request, the request frame, and the agent's reply frame.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use shoal_transport::frame::{read_frame, write_frame};
use shoal_transport::wire::{
    PodRef, StreamFailure, StreamFailureKind, StreamReply, StreamRequest, MAX_STREAM_FRAME,
};

use super::error::ApiError;
use super::request::Target;
use super::ApiState;
use crate::node_conns::NodeConns;
use crate::resources::PODS;

/// How long the agent may take to answer a request (find the container, start the exec)
/// before the API gives up with 504.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The pod a logs/exec request addresses, decoded.
pub struct PodTarget {
    pub pod: Pod,
    pub pod_ref: PodRef,
    /// `spec.nodeName`; empty when not scheduled yet.
    pub node: String,
}

/// Loads the pod of `target` (404 like any get when it does not exist).
pub fn load_pod(state: &ApiState, target: &Target) -> Result<PodTarget, ApiError> {
    let ns = target.namespace.as_deref().unwrap_or("default");
    let name = target.name.as_deref().unwrap_or_default();
    let stored = state.store.get(&PODS, ns, name).ok_or_else(|| {
        let mut e = ApiError::not_found(format!("pods \"{name}\" not found"));
        e.details = Some(serde_json::json!({"name": name, "kind": "pods"}));
        e
    })?;
    let pod: Pod = serde_json::from_slice(&stored.json)
        .map_err(|e| ApiError::internal(format!("stored pod {ns}/{name} does not decode: {e}")))?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    Ok(PodTarget {
        pod,
        pod_ref: PodRef {
            uid,
            namespace: ns.to_string(),
            name: name.to_string(),
        },
        node,
    })
}

/// The container a request means: the one named, or the pod's only container. Errors are
/// Kubernetes' own (400): a name is required when the pod has several containers, and must be
/// one of them. Init containers may be named too.
pub fn resolve_container(pod: &Pod, requested: &str) -> Result<String, ApiError> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let containers: Vec<&str> = spec
        .map(|s| s.containers.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    let inits: Vec<&str> = spec
        .and_then(|s| s.init_containers.as_ref())
        .map(|cs| cs.iter().map(|c| c.name.as_str()).collect())
        .unwrap_or_default();
    if requested.is_empty() {
        return match containers.as_slice() {
            [only] => Ok(only.to_string()),
            _ => {
                let mut msg = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                );
                if !inits.is_empty() {
                    msg.push_str(&format!(
                        " or one of the init containers: [{}]",
                        inits.join(" ")
                    ));
                }
                Err(ApiError::bad_request(msg))
            }
        };
    }
    if containers.contains(&requested) || inits.contains(&requested) {
        Ok(requested.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "container {requested} is not valid for pod {name}"
        )))
    }
}

/// `previous=true` needs an earlier run (400 otherwise, as Kubernetes answers).
pub fn check_previous(pod: &Pod, container: &str) -> Result<(), ApiError> {
    let status = pod.status.as_ref();
    let restarts = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .find(|c| c.name == container)
        .map_or(0, |c| c.restart_count);
    if restarts > 0 {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{}\" not found",
            pod.metadata.name.as_deref().unwrap_or_default()
        )))
    }
}

/// Exec needs the container running, as far as the pod's status knows (the agent checks
/// again). Answered before any upgrade, so every client (and kubectl's WebSocket-then-SPDY
/// fallback) sees the same reason.
pub fn check_running(pod: &Pod, container: &str) -> Result<(), ApiError> {
    let status = pod.status.as_ref();
    if let Some(phase @ ("Succeeded" | "Failed")) = status.and_then(|s| s.phase.as_deref()) {
        return Err(ApiError::bad_request(format!(
            "cannot exec into a container in a completed pod; current phase is {phase}"
        )));
    }
    let running = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .find(|c| c.name == container)
        .and_then(|c| c.state.as_ref())
        .is_some_and(|s| s.running.is_some());
    if running {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container {container:?} in pod {:?} is not running",
            pod.metadata.name.as_deref().unwrap_or_default()
        )))
    }
}

/// The API error for an agent's [`StreamFailure`].
pub fn failure_error(f: &StreamFailure) -> ApiError {
    match f.kind {
        // Not created on the node yet: Kubernetes says "waiting to start" with a 400.
        StreamFailureKind::NotFound | StreamFailureKind::BadRequest => {
            ApiError::bad_request(f.message.clone())
        }
        StreamFailureKind::Internal => ApiError::internal(f.message.clone()),
    }
}

fn node_error(node: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        502,
        "InternalError",
        format!("cannot reach node {node:?}: {what}"),
    )
}

/// Opens a stream to the agent of `node`, sends `request`, and returns the stream once the
/// agent answered `Ready`. 400 when the pod is not scheduled, 502 when its node is not
/// connected (the hub can only reach nodes over the connection they made), 504 when the
/// agent does not answer in [`REPLY_TIMEOUT`], and the agent's own failure otherwise.
pub async fn open(
    nodes: &NodeConns,
    target: &PodTarget,
    request: &StreamRequest,
) -> Result<(quinn::SendStream, quinn::RecvStream), ApiError> {
    let node = &target.node;
    if node.is_empty() {
        return Err(ApiError::bad_request(format!(
            "pod {} does not have a host assigned",
            target.pod_ref.name
        )));
    }
    let conn = nodes.get(node).ok_or_else(|| {
        node_error(
            node,
            "the node is not connected to the hub; its pods keep running, and logs and exec work again once it reconnects",
        )
    })?;
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| node_error(node, e))?;
        write_frame(&mut send, request)
            .await
            .map_err(|e| node_error(node, e))?;
        let reply = read_frame::<StreamReply>(&mut recv, MAX_STREAM_FRAME)
            .await
            .map_err(|e| node_error(node, format!("the agent's answer is unreadable: {e}")))?
            .ok_or_else(|| node_error(node, "the agent closed the stream without an answer"))?;
        match reply {
            StreamReply::Ready => Ok((send, recv)),
            StreamReply::Failed(f) => Err(failure_error(&f)),
        }
    };
    tokio::time::timeout(REPLY_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            ApiError::new(
                504,
                "Timeout",
                format!(
                    "node {node:?} did not answer within {}s",
                    REPLY_TIMEOUT.as_secs()
                ),
            )
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(containers: &[&str], inits: &[&str], restarts: &[(&str, i32)]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {
                "containers": containers.iter().map(|n| serde_json::json!({"name": n, "image": "i"})).collect::<Vec<_>>(),
                "initContainers": inits.iter().map(|n| serde_json::json!({"name": n, "image": "i"})).collect::<Vec<_>>(),
            },
            "status": {"containerStatuses": restarts.iter().map(|(n, r)| serde_json::json!({
                "name": n, "restartCount": r, "image": "i", "imageID": "", "ready": true,
            })).collect::<Vec<_>>()},
        }))
        .expect("pod")
    }

    #[test]
    fn containers_resolve_like_kubernetes() {
        let one = pod(&["app"], &[], &[]);
        assert_eq!(resolve_container(&one, "").expect("only one"), "app");
        assert_eq!(resolve_container(&one, "app").expect("named"), "app");
        let e = resolve_container(&one, "nope").expect_err("unknown");
        assert_eq!(e.code, 400);
        assert_eq!(e.message, "container nope is not valid for pod web");

        let two = pod(&["a", "b"], &["init"], &[]);
        let e = resolve_container(&two, "").expect_err("must choose");
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [init]"
        );
        assert_eq!(resolve_container(&two, "b").expect("named"), "b");
        assert_eq!(resolve_container(&two, "init").expect("init"), "init");
    }

    #[test]
    fn previous_needs_a_restart() {
        let p = pod(&["a", "b"], &[], &[("a", 0), ("b", 2)]);
        assert!(check_previous(&p, "b").is_ok());
        let e = check_previous(&p, "a").expect_err("never restarted");
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "previous terminated container \"a\" in pod \"web\" not found"
        );
        assert!(check_previous(&p, "c").is_err());
    }

    #[test]
    fn exec_needs_a_running_container() {
        let mut p = pod(&["a", "b"], &[], &[("a", 0), ("b", 0)]);
        let statuses = p
            .status
            .as_mut()
            .and_then(|s| s.container_statuses.as_mut())
            .expect("statuses");
        statuses[0].state =
            Some(serde_json::from_value(serde_json::json!({"running": {}})).expect("state"));
        statuses[1].state = Some(
            serde_json::from_value(serde_json::json!({"waiting": {"reason": "CrashLoopBackOff"}}))
                .expect("state"),
        );
        assert!(check_running(&p, "a").is_ok());
        let e = check_running(&p, "b").expect_err("waiting");
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "unable to upgrade connection: container \"b\" in pod \"web\" is not running"
        );
        assert!(check_running(&p, "c").is_err());
        if let Some(s) = p.status.as_mut() {
            s.phase = Some("Succeeded".into());
        }
        assert!(check_running(&p, "a")
            .expect_err("completed")
            .message
            .contains("completed pod"));
    }

    #[test]
    fn agent_failures_map_to_kubernetes_codes() {
        let f = |kind| StreamFailure {
            kind,
            message: "m".into(),
        };
        assert_eq!(failure_error(&f(StreamFailureKind::NotFound)).code, 400);
        assert_eq!(failure_error(&f(StreamFailureKind::BadRequest)).code, 400);
        assert_eq!(failure_error(&f(StreamFailureKind::Internal)).code, 500);
    }
}
