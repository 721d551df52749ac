//! Cascading deletion on an in-process cluster: foreground (the owner goes last, after its
//! whole tree) and orphan (dependents stay, released), as the DELETE `propagationPolicy`
//! marks them; background deletion is covered by the workload tests.

mod common;

use std::time::Duration;

use common::{is_ready, wait_for, Cluster};
use serde_json::json;
use shoal_hub::controllers::gc::{mark_for_deletion, FOREGROUND, ORPHAN};
use shoal_hub::resources::{DEPLOYMENTS, REPLICASETS};

const LIMIT: Duration = Duration::from_secs(30);

fn deployment(name: &str) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "localhost/app:1"}]}}}})
}

fn now() -> u64 {
    shoal_transport::status::now_ms()
}

#[actix_rt::test]
async fn foreground_and_orphan_propagation() {
    let c = Cluster::start(2).await;
    c.create(&DEPLOYMENTS, "default", deployment("fg")).await;
    c.create(&DEPLOYMENTS, "default", deployment("orph")).await;
    wait_for("pods", LIMIT, || {
        let (a, b) = (c.pods("default", "fg"), c.pods("default", "orph"));
        a.len() == 2 && b.len() == 2 && a.iter().chain(b.iter()).all(is_ready)
    })
    .await;

    // Foreground: the Deployment stays (marked) until its ReplicaSet and pods are gone.
    mark_for_deletion(&c.store, &DEPLOYMENTS, "default", "fg", FOREGROUND, now())
        .await
        .expect("mark");
    let mut saw_owner_waiting = false;
    wait_for("the deployment to go last", LIMIT, || {
        let d = c.store.get(&DEPLOYMENTS, "default", "fg").is_some();
        let pods = c.pods("default", "fg").len();
        if d && pods > 0 {
            saw_owner_waiting = true;
        }
        assert!(d || pods == 0, "the owner went before its pods");
        !d
    })
    .await;
    assert!(saw_owner_waiting, "the owner waited for its dependents");
    assert!(c
        .store
        .list(
            &REPLICASETS,
            Some("default"),
            &|o| o.label("app") == Some("fg"),
            None,
            0
        )
        .items
        .is_empty());

    // Orphan: the ReplicaSet goes, its pods stay, released.
    let rs = c
        .store
        .list(
            &REPLICASETS,
            Some("default"),
            &|o| o.label("app") == Some("orph"),
            None,
            0,
        )
        .items[0]
        .namespace_and_name()
        .1
        .to_string();
    let before: Vec<String> = c
        .pods("default", "orph")
        .iter()
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    // Detach the ReplicaSet from its Deployment first (as `kubectl delete deploy --cascade=orphan` would).
    mark_for_deletion(&c.store, &DEPLOYMENTS, "default", "orph", ORPHAN, now())
        .await
        .expect("mark");
    wait_for(
        "the deployment to go, its replicaset released",
        LIMIT,
        || {
            c.store.get(&DEPLOYMENTS, "default", "orph").is_none()
                && c.store
                    .get(&REPLICASETS, "default", &rs)
                    .is_some_and(|o| o.value()["metadata"].get("ownerReferences").is_none())
        },
    )
    .await;
    mark_for_deletion(&c.store, &REPLICASETS, "default", &rs, ORPHAN, now())
        .await
        .expect("mark");
    wait_for("the replicaset to go", LIMIT, || {
        c.store.get(&REPLICASETS, "default", &rs).is_none()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = c.pods("default", "orph");
    let names: Vec<String> = after
        .iter()
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(names, before, "the orphaned pods keep running");
    assert!(
        after
            .iter()
            .all(|p| p["metadata"].get("ownerReferences").is_none()),
        "and are released"
    );
    c.stop().await;
}
