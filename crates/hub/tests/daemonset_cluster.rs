//! DaemonSet on an in-process cluster (hub + agents on the fake runtime): one pod per
//! eligible node, following nodes that join, leave and change labels, and a rolling update
//! across the fleet whose `maxUnavailable` bound is checked at every store revision.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{is_ready, wait_for, Cluster};
use serde_json::{json, Value};
use shoal_hub::resources::{CONTROLLERREVISIONS, DAEMONSETS, NODES};
use shoal_hub::store::EventType;

const LIMIT: Duration = Duration::from_secs(60);

fn daemonset(node_selector: Value, strategy: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "updateStrategy": strategy,
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"nodeSelector": node_selector, "containers": [{"name": "c", "image": "localhost/agent:1"}]}}}})
}

/// Node -> pods of the DaemonSet on it.
fn placement(c: &Cluster) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in c.pods("default", "agent") {
        *m.entry(
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
        .or_default() += 1;
    }
    m
}

fn on(nodes: &[&str]) -> BTreeMap<String, usize> {
    nodes.iter().map(|n| (n.to_string(), 1)).collect()
}

#[actix_rt::test]
async fn daemonset_follows_nodes_joining_leaving_and_relabelling() {
    let mut c = Cluster::start(0).await;
    c.add_agent("cam-1", &[("kind", "camera")]).await;
    c.add_agent("cam-2", &[("kind", "camera")]).await;
    c.add_agent("gw-1", &[("kind", "gateway")]).await;
    for n in ["cam-1", "cam-2", "gw-1"] {
        c.wait_node_ready(n).await;
    }
    c.create(
        &DAEMONSETS,
        "default",
        daemonset(json!({"kind": "camera"}), json!({})),
    )
    .await;
    wait_for("a pod on each camera", LIMIT, || {
        placement(&c) == on(&["cam-1", "cam-2"])
    })
    .await;
    wait_for("status", LIMIT, || {
        c.store
            .get(&DAEMONSETS, "default", "agent")
            .is_some_and(|o| {
                let s = o.value()["status"].clone();
                s["desiredNumberScheduled"] == 2
                    && s["currentNumberScheduled"] == 2
                    && s["numberReady"] == 2
                    && s["updatedNumberScheduled"] == 2
                    && s["numberAvailable"] == 2
            })
    })
    .await;
    assert!(c
        .pods("default", "agent")
        .iter()
        .all(|p| p["metadata"]["labels"]["controller-revision-hash"].is_string()));
    assert_eq!(
        c.store
            .list(&CONTROLLERREVISIONS, Some("default"), &|_| true, None, 0)
            .items
            .len(),
        1
    );

    // A camera joins.
    c.add_agent("cam-3", &[("kind", "camera")]).await;
    wait_for("a pod on the new camera", LIMIT, || {
        placement(&c) == on(&["cam-1", "cam-2", "cam-3"])
    })
    .await;
    // A gateway is relabelled as a camera, and a camera stops being one.
    c.update(&NODES, "", "gw-1", |v| {
        v["metadata"]["labels"]["kind"] = json!("camera")
    })
    .await;
    c.update(&NODES, "", "cam-1", |v| {
        v["metadata"]["labels"]["kind"] = json!("retired")
    })
    .await;
    wait_for("placement to follow the labels", LIMIT, || {
        placement(&c) == on(&["cam-2", "cam-3", "gw-1"])
    })
    .await;
    // A node leaves the fleet.
    c.store
        .delete(&NODES, "", "cam-2", None)
        .await
        .expect("delete node");
    wait_for("the pod of the node that left to go", LIMIT, || {
        placement(&c) == on(&["cam-3", "gw-1"])
    })
    .await;
    // A deleted pod comes back on its node.
    let p = c.pods("default", "agent")[0].clone();
    c.store
        .delete(
            &shoal_hub::resources::PODS,
            "default",
            p["metadata"]["name"].as_str().expect("name"),
            None,
        )
        .await
        .expect("delete pod");
    wait_for("the pod to come back", LIMIT, || {
        placement(&c) == on(&["cam-3", "gw-1"])
            && c.pods("default", "agent")
                .iter()
                .all(|x| x["metadata"]["name"] != p["metadata"]["name"])
    })
    .await;
    // Deleting the DaemonSet removes its pods and revisions.
    c.store
        .delete(&DAEMONSETS, "default", "agent", None)
        .await
        .expect("delete");
    wait_for("cascade", LIMIT, || {
        placement(&c).is_empty()
            && c.store
                .list(&CONTROLLERREVISIONS, Some("default"), &|_| true, None, 0)
                .items
                .is_empty()
    })
    .await;
    c.stop().await;
}

const FLEET: usize = 50;
const MAX_UNAVAILABLE: usize = 5;

#[actix_rt::test]
async fn rolling_update_across_the_fleet_stays_within_max_unavailable() {
    let c = Cluster::start(FLEET).await;
    c.create(
        &DAEMONSETS,
        "default",
        daemonset(
            json!({}),
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": MAX_UNAVAILABLE}}),
        ),
    )
    .await;
    wait_for("a ready pod on every node", LIMIT, || {
        let pods = c.pods("default", "agent");
        pods.len() == FLEET && pods.iter().all(is_ready)
    })
    .await;
    c.update(&DAEMONSETS, "default", "agent", |v| {
        v["spec"]["template"]["spec"]["containers"][0]["image"] = json!("localhost/agent:2")
    })
    .await;

    // Node -> (pod name, ready) for every DaemonSet pod, replayed from every store change.
    let mut pods: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for p in c.pods("default", "agent") {
        pods.insert(
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            (
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                is_ready(&p),
            ),
        );
    }
    let mut cursor = c.store.revision();
    let deadline = Instant::now() + LIMIT;
    let mut max_seen = 0;
    loop {
        let events = c.store.events_after(cursor, 10_000).expect("history");
        for ev in &events {
            cursor = ev.revision;
            if !ev.object.key.starts_with("pods/default/") {
                continue;
            }
            let (_, name) = ev.object.namespace_and_name();
            if ev.event_type == EventType::Deleted {
                pods.remove(name);
            } else {
                let v = ev.object.value();
                pods.insert(
                    name.to_string(),
                    (
                        v["spec"]["nodeName"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        is_ready(&v),
                    ),
                );
            }
            let serving: BTreeSet<&String> =
                pods.values().filter(|(_, r)| *r).map(|(n, _)| n).collect();
            let unavailable = FLEET - serving.len();
            max_seen = max_seen.max(unavailable);
            assert!(unavailable <= MAX_UNAVAILABLE, "revision {cursor}: {unavailable} nodes without a ready pod (maxUnavailable {MAX_UNAVAILABLE})");
        }
        let done = c
            .pods("default", "agent")
            .iter()
            .filter(|p| p["spec"]["containers"][0]["image"] == "localhost/agent:2" && is_ready(p))
            .count()
            == FLEET;
        if events.is_empty() && done {
            break;
        }
        assert!(Instant::now() < deadline, "the rollout did not finish");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        max_seen >= 2,
        "the rollout went in waves (at most {max_seen} nodes down at once)"
    );
    wait_for("status", LIMIT, || {
        c.store
            .get(&DAEMONSETS, "default", "agent")
            .is_some_and(|o| {
                let s = o.value()["status"].clone();
                s["updatedNumberScheduled"] == FLEET
                    && s["numberAvailable"] == FLEET
                    && s["observedGeneration"] == 2
            })
    })
    .await;
    assert_eq!(
        c.store
            .list(&CONTROLLERREVISIONS, Some("default"), &|_| true, None, 0)
            .items
            .len(),
        2
    );
    c.stop().await;
}
