//! Node lifecycle on an in-process cluster: a device that goes offline is marked Unknown and
//! tainted unreachable, but keeps its pods (edge semantics: no eviction by default), and gets
//! its taints removed when it comes back.

mod common;

use std::time::Duration;

use common::{wait_for, Cluster};
use serde_json::json;
use shoal_hub::resources::{NODES, REPLICASETS};

const LIMIT: Duration = Duration::from_secs(30);

fn taints(c: &Cluster, node: &str) -> Vec<String> {
    c.store
        .get(&NODES, "", node)
        .and_then(|o| {
            o.value()["spec"]["taints"].as_array().map(|a| {
                a.iter()
                    .map(|t| {
                        format!(
                            "{}:{}",
                            t["key"].as_str().unwrap_or_default(),
                            t["effect"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
}

#[actix_rt::test]
async fn offline_nodes_are_tainted_but_keep_their_pods() {
    let mut c = Cluster::start(2).await;
    c.create(&REPLICASETS, "default", json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "localhost/app:1"}]}}}}))
        .await;
    wait_for("2 pods on 2 nodes", LIMIT, || {
        c.pods("default", "web")
            .iter()
            .filter(|p| p["spec"]["nodeName"].is_string())
            .count()
            == 2
    })
    .await;
    let offline = c.agents.remove(1);
    let name = offline.name.clone();
    offline.stop().await;
    wait_for("the unreachable taints", LIMIT, || {
        let t = taints(&c, &name);
        t.contains(&"node.kubernetes.io/unreachable:NoExecute".to_string())
            && t.contains(&"node.kubernetes.io/unreachable:NoSchedule".to_string())
    })
    .await;
    let ready = c
        .store
        .get(&NODES, "", &name)
        .map(|o| {
            o.value()["status"]["conditions"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["type"] == "Ready").cloned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    assert_eq!(ready["status"], "Unknown");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        c.pods("default", "web")
            .iter()
            .filter(|p| p["spec"]["nodeName"] == name.as_str())
            .count(),
        1,
        "the offline node keeps its pod"
    );

    // It comes back: Ready, taints gone.
    c.add_agent(&name, &[]).await;
    c.wait_node_ready(&name).await;
    wait_for("the taints to go", LIMIT, || taints(&c, &name).is_empty()).await;
    c.stop().await;
}
