//! Namespace deletion on an in-process cluster: a Terminating namespace is emptied (a
//! Deployment with running pods, a ConfigMap) and then removed.

mod common;

use std::time::Duration;

use common::{is_ready, wait_for, Cluster};
use serde_json::json;
use shoal_hub::controllers::namespace::mark_terminating;
use shoal_hub::resources::{CONFIGMAPS, DEPLOYMENTS, NAMESPACES, PODS, REPLICASETS};

const LIMIT: Duration = Duration::from_secs(30);

#[actix_rt::test]
async fn terminating_namespaces_are_emptied_then_removed() {
    let c = Cluster::start(2).await;
    c.create(
        &NAMESPACES,
        "",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    )
    .await;
    c.create(&DEPLOYMENTS, "team", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "localhost/app:1"}]}}}}))
        .await;
    c.create(&CONFIGMAPS, "team", json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}})).await;
    wait_for("2 ready pods", LIMIT, || {
        let pods = c.pods("team", "web");
        pods.len() == 2 && pods.iter().all(is_ready)
    })
    .await;
    mark_terminating(&c.store, "team", shoal_transport::status::now_ms())
        .await
        .expect("mark");
    wait_for("the namespace to be removed", LIMIT, || {
        c.store.get(&NAMESPACES, "", "team").is_none()
    })
    .await;
    for res in [&PODS, &REPLICASETS, &DEPLOYMENTS, &CONFIGMAPS] {
        let left: Vec<serde_json::Value> = c
            .store
            .list(res, Some("team"), &|_| true, None, 0)
            .items
            .iter()
            .map(|o| o.value())
            .collect();
        assert!(left.is_empty(), "{} left: {left:#?}", res.kind);
    }
    // Nothing comes back after the namespace is gone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(c
        .store
        .list(&PODS, Some("team"), &|_| true, None, 0)
        .items
        .is_empty());
    c.stop().await;
}
