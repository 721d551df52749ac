//! Deployment on an in-process cluster (hub + 3 agents on the fake runtime): a rolling update
//! whose surge and unavailability bounds are checked at every store revision, rollback to the
//! old ReplicaSet, pause and resume, and Recreate.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{is_ready, wait_for, Cluster};
use serde_json::{json, Value};
use shoal_hub::resources::{DEPLOYMENTS, REPLICASETS};
use shoal_hub::store::EventType;

const LIMIT: Duration = Duration::from_secs(40);

fn deployment(name: &str, replicas: i64, image: &str, strategy: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "strategy": strategy,
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
}

fn set_image(image: &'static str) -> impl FnOnce(&mut Value) + Send + 'static {
    move |v: &mut Value| v["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image)
}

/// Whether the rollout is done the way `kubectl rollout status` decides it.
fn rolled_out(c: &Cluster, name: &str, replicas: i64) -> bool {
    c.store.get(&DEPLOYMENTS, "default", name).is_some_and(|o| {
        let v = o.value();
        let st = &v["status"];
        st["observedGeneration"] == v["metadata"]["generation"]
            && st["updatedReplicas"] == replicas
            && st["replicas"] == replicas
            && st["availableReplicas"] == replicas
    })
}

fn images(c: &Cluster, app: &str) -> BTreeSet<String> {
    c.pods("default", app)
        .iter()
        .map(|p| {
            p["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn replica_sets(c: &Cluster, app: &str) -> Vec<Value> {
    c.store
        .list(
            &REPLICASETS,
            Some("default"),
            &|o| o.label("app") == Some(app),
            None,
            0,
        )
        .items
        .iter()
        .map(|o| o.value())
        .collect()
}

/// Follows every store change until `done` holds, checking the bounds after each one.
async fn watch_bounds(
    c: &Cluster,
    app: &str,
    max_pods: usize,
    min_ready: usize,
    done: impl Fn(&Cluster) -> bool,
) -> usize {
    let mut pods: BTreeMap<String, bool> = c
        .pods("default", app)
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                is_ready(p),
            )
        })
        .collect();
    let mut cursor = c.store.revision();
    let deadline = Instant::now() + LIMIT;
    let mut steps = 0;
    loop {
        let events = c
            .store
            .events_after(cursor, 10_000)
            .expect("history reaches back");
        for ev in &events {
            cursor = ev.revision;
            if !ev.object.key.starts_with("pods/default/") {
                continue;
            }
            let (_, name) = ev.object.namespace_and_name();
            if ev.event_type == EventType::Deleted || ev.object.label("app") != Some(app) {
                pods.remove(name);
            } else {
                pods.insert(name.to_string(), is_ready(&ev.object.value()));
            }
            steps += 1;
            let ready = pods.values().filter(|r| **r).count();
            assert!(
                pods.len() <= max_pods,
                "revision {cursor}: {} pods exceed replicas + maxSurge = {max_pods}: {pods:?}",
                pods.len()
            );
            assert!(ready >= min_ready, "revision {cursor}: {ready} ready pods are fewer than replicas - maxUnavailable = {min_ready}: {pods:?}");
        }
        if events.is_empty() && done(c) {
            return steps;
        }
        assert!(
            Instant::now() < deadline,
            "rollout did not finish; pods {pods:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[actix_rt::test]
async fn rolling_update_respects_its_bounds_rolls_back_and_pauses() {
    let c = Cluster::start(3).await;
    let strategy =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}});
    c.create(
        &DEPLOYMENTS,
        "default",
        deployment("web", 4, "localhost/app:1", strategy),
    )
    .await;
    wait_for("the first rollout", LIMIT, || {
        rolled_out(&c, "web", 4) && c.pods("default", "web").iter().all(is_ready)
    })
    .await;
    let d = c
        .store
        .get(&DEPLOYMENTS, "default", "web")
        .expect("deployment")
        .value();
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let conds = d["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True"),
        "{conds:?}"
    );
    assert!(
        conds
            .iter()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable"),
        "{conds:?}"
    );
    let first_rs = replica_sets(&c, "web");
    assert_eq!(first_rs.len(), 1);
    let hash = first_rs[0]["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("hash")
        .to_string();
    assert_eq!(first_rs[0]["metadata"]["name"], format!("web-{hash}"));
    assert!(c
        .pods("default", "web")
        .iter()
        .all(|p| p["metadata"]["labels"]["pod-template-hash"] == hash.as_str()));

    // Rolling update 1 -> 2: at most 5 pods, at least 3 ready, at every revision.
    c.update(&DEPLOYMENTS, "default", "web", set_image("localhost/app:2"))
        .await;
    let steps = watch_bounds(&c, "web", 5, 3, |c| {
        rolled_out(c, "web", 4)
            && images(c, "web") == BTreeSet::from(["localhost/app:2".to_string()])
    })
    .await;
    assert!(
        steps > 8,
        "the rollout was observed step by step ({steps} pod changes)"
    );
    assert_eq!(replica_sets(&c, "web").len(), 2);
    let rev = |c: &Cluster| {
        c.store.get(&DEPLOYMENTS, "default", "web").map(|o| {
            o.value()["metadata"]["annotations"]["deployment.kubernetes.io/revision"].clone()
        })
    };
    assert_eq!(rev(&c), Some(json!("2")));

    // Rollback (what `kubectl rollout undo` does: the old template back): the old ReplicaSet
    // comes back with revision 3, no third ReplicaSet.
    c.update(&DEPLOYMENTS, "default", "web", set_image("localhost/app:1"))
        .await;
    watch_bounds(&c, "web", 5, 3, |c| {
        rolled_out(c, "web", 4)
            && images(c, "web") == BTreeSet::from(["localhost/app:1".to_string()])
    })
    .await;
    let sets = replica_sets(&c, "web");
    assert_eq!(sets.len(), 2, "rollback reuses the old ReplicaSet");
    let old = sets
        .iter()
        .find(|r| r["metadata"]["name"] == format!("web-{hash}"))
        .expect("the first ReplicaSet");
    assert_eq!(
        old["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(old["spec"]["replicas"], 4);
    assert_eq!(rev(&c), Some(json!("3")));

    // Paused: a template change rolls nothing out until resumed.
    c.update(&DEPLOYMENTS, "default", "web", |v| {
        v["spec"]["paused"] = json!(true)
    })
    .await;
    c.update(&DEPLOYMENTS, "default", "web", set_image("localhost/app:3"))
        .await;
    wait_for("the paused condition", LIMIT, || {
        c.store
            .get(&DEPLOYMENTS, "default", "web")
            .is_some_and(|o| {
                o.value()["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["reason"] == "DeploymentPaused"))
            })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        replica_sets(&c, "web").len(),
        2,
        "no new ReplicaSet while paused"
    );
    assert_eq!(
        images(&c, "web"),
        BTreeSet::from(["localhost/app:1".to_string()])
    );
    c.update(&DEPLOYMENTS, "default", "web", |v| {
        v["spec"]["paused"] = json!(false)
    })
    .await;
    watch_bounds(&c, "web", 5, 3, |c| {
        rolled_out(c, "web", 4)
            && images(c, "web") == BTreeSet::from(["localhost/app:3".to_string()])
    })
    .await;
    assert_eq!(replica_sets(&c, "web").len(), 3);

    // Deleting the Deployment removes its ReplicaSets and their pods.
    c.store
        .delete(&DEPLOYMENTS, "default", "web", None)
        .await
        .expect("delete");
    wait_for("cascading delete", LIMIT, || {
        replica_sets(&c, "web").is_empty() && c.pods("default", "web").is_empty()
    })
    .await;
    c.stop().await;
}

#[actix_rt::test]
async fn recreate_stops_old_pods_before_starting_new_ones() {
    let c = Cluster::start(2).await;
    c.create(
        &DEPLOYMENTS,
        "default",
        deployment("batch", 2, "localhost/app:1", json!({"type": "Recreate"})),
    )
    .await;
    wait_for("the first rollout", LIMIT, || rolled_out(&c, "batch", 2)).await;
    c.update(
        &DEPLOYMENTS,
        "default",
        "batch",
        set_image("localhost/app:2"),
    )
    .await;
    // Never old and new pods at once.
    let deadline = Instant::now() + LIMIT;
    loop {
        let imgs = images(&c, "batch");
        assert!(imgs.len() <= 1, "old and new pods at once: {imgs:?}");
        if rolled_out(&c, "batch", 2) && imgs == BTreeSet::from(["localhost/app:2".to_string()]) {
            break;
        }
        assert!(Instant::now() < deadline, "recreate did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.stop().await;
}
