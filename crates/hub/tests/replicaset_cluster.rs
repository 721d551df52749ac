//! ReplicaSet and ReplicationController on an in-process cluster (hub + 3 agents on the fake
//! runtime): scale up, self-heal after a pod is deleted, scale down, scale to zero, and the
//! garbage collector removing the pods of a deleted ReplicaSet.

mod common;

use std::time::Duration;

use common::{is_ready, wait_for, Cluster};
use serde_json::json;
use shoal_hub::resources::{PODS, REPLICASETS, REPLICATIONCONTROLLERS};

const LIMIT: Duration = Duration::from_secs(30);

fn rs(name: &str, replicas: i64) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "localhost/app:1"}]}}}})
}

#[actix_rt::test]
async fn replicaset_scales_heals_and_is_collected() {
    let c = Cluster::start(3).await;
    c.create(&REPLICASETS, "default", rs("web", 3)).await;
    wait_for("3 ready pods", LIMIT, || {
        let pods = c.pods("default", "web");
        pods.len() == 3 && pods.iter().all(is_ready)
    })
    .await;
    let pods = c.pods("default", "web");
    let nodes: std::collections::BTreeSet<String> = pods
        .iter()
        .map(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(nodes.len(), 3, "spread over the three nodes: {nodes:?}");
    for p in &pods {
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
    }
    wait_for("status to count 3 ready", LIMIT, || {
        c.store
            .get(&REPLICASETS, "default", "web")
            .is_some_and(|o| {
                let v = o.value();
                v["status"]["readyReplicas"] == 3
                    && v["status"]["availableReplicas"] == 3
                    && v["status"]["replicas"] == 3
                    && v["status"]["observedGeneration"] == 1
            })
    })
    .await;

    // Self-healing: a deleted pod is replaced.
    let victim = pods[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    c.store
        .delete(&PODS, "default", &victim, None)
        .await
        .expect("delete a pod");
    wait_for("a replacement pod", LIMIT, || {
        let pods = c.pods("default", "web");
        pods.len() == 3
            && pods.iter().all(is_ready)
            && pods
                .iter()
                .all(|p| p["metadata"]["name"] != victim.as_str())
    })
    .await;

    // An orphan with matching labels is adopted (and the surplus removed).
    c.create(&PODS, "default", json!({"metadata": {"name": "stray", "labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "localhost/app:1"}]}})).await;
    wait_for("the surplus to be removed", LIMIT, || {
        c.pods("default", "web").len() == 3
    })
    .await;

    // Scale down and up.
    c.update(&REPLICASETS, "default", "web", |v| {
        v["spec"]["replicas"] = json!(1)
    })
    .await;
    wait_for("1 pod", LIMIT, || c.pods("default", "web").len() == 1).await;
    c.update(&REPLICASETS, "default", "web", |v| {
        v["spec"]["replicas"] = json!(4)
    })
    .await;
    wait_for("4 ready pods", LIMIT, || {
        let pods = c.pods("default", "web");
        pods.len() == 4 && pods.iter().all(is_ready)
    })
    .await;

    // A pod relabelled out of the selector is released and replaced.
    let relabel = c.pods("default", "web")[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    c.update(&PODS, "default", &relabel, |v| {
        v["metadata"]["labels"]["app"] = json!("debug")
    })
    .await;
    wait_for("release and replacement", LIMIT, || {
        let released = c
            .store
            .get(&PODS, "default", &relabel)
            .is_some_and(|o| o.value()["metadata"].get("ownerReferences").is_none());
        released && c.pods("default", "web").len() == 4
    })
    .await;

    c.update(&REPLICASETS, "default", "web", |v| {
        v["spec"]["replicas"] = json!(0)
    })
    .await;
    wait_for("no pods", LIMIT, || c.pods("default", "web").is_empty()).await;
    c.update(&REPLICASETS, "default", "web", |v| {
        v["spec"]["replicas"] = json!(2)
    })
    .await;
    wait_for("2 pods", LIMIT, || c.pods("default", "web").len() == 2).await;

    // Deleting the ReplicaSet deletes its pods (background propagation); the released pod stays.
    c.store
        .delete(&REPLICASETS, "default", "web", None)
        .await
        .expect("delete the replicaset");
    wait_for("the pods to be collected", LIMIT, || {
        c.pods("default", "web").is_empty()
    })
    .await;
    assert!(
        c.store.get(&PODS, "default", &relabel).is_some(),
        "the released pod is not collected"
    );
    c.stop().await;
}

#[actix_rt::test]
async fn replication_controller_keeps_its_pods() {
    let c = Cluster::start(2).await;
    c.create(&REPLICATIONCONTROLLERS, "default", json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
        "spec": {"replicas": 2, "selector": {"app": "rc"}, "template": {"metadata": {"labels": {"app": "rc"}}, "spec": {"containers": [{"name": "c", "image": "localhost/app:1"}]}}}}))
        .await;
    wait_for("2 ready pods", LIMIT, || {
        let pods = c.pods("default", "rc");
        pods.len() == 2 && pods.iter().all(is_ready)
    })
    .await;
    let victim = c.pods("default", "rc")[0]["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    c.store
        .delete(&PODS, "default", &victim, None)
        .await
        .expect("delete");
    wait_for("a replacement", LIMIT, || {
        let pods = c.pods("default", "rc");
        pods.len() == 2
            && pods
                .iter()
                .all(|p| p["metadata"]["name"] != victim.as_str())
    })
    .await;
    c.update(&REPLICATIONCONTROLLERS, "default", "rc", |v| {
        v["spec"]["replicas"] = json!(0)
    })
    .await;
    wait_for("no pods", LIMIT, || c.pods("default", "rc").is_empty()).await;
    wait_for("status replicas 0", LIMIT, || {
        c.store
            .get(&REPLICATIONCONTROLLERS, "default", "rc")
            .is_some_and(|o| o.value()["status"]["replicas"] == 0)
    })
    .await;
    c.stop().await;
}
