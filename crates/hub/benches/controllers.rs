//! Scheduler throughput and DaemonSet fan-out, measured on the hub's real store, scheduler
//! and controllers, with a stand-in kubelet that marks every bound pod Running and Ready.
//!
//! ```sh
//! cargo bench -p shoal-hub --bench controllers            # 1,000 nodes, 5,000 pods
//! SHOAL_BENCH_NODES=200 SHOAL_BENCH_PODS=1000 cargo bench -p shoal-hub --bench controllers
//! ```
//!
//! Prints figures; asserts nothing about time (this machine is shared and noisy).

use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{json, Value};
use shoal_hub::api::admission;
use shoal_hub::resources::{self, DAEMONSETS, NAMESPACES, NODES, PODS};
use shoal_hub::scheduler::Scheduler;
use shoal_hub::store::{EventType, Store};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn create(store: &Store, res: &'static resources::ResourceInfo, ns: &str, v: Value) {
    let (mut v, _) =
        admission::normalize(res, v, admission::FieldValidation::Strict).expect("valid object");
    admission::prepare_create(res, &mut v).expect("valid object");
    store.create(res, ns, v).await.expect("create");
}

/// Marks bound pods Running and Ready, as agents would report over MQTT.
async fn fake_kubelet(store: Store) {
    let mut cursor = store.revision();
    let mut changes = store.subscribe();
    loop {
        let events = match store.events_after(cursor, 4096) {
            Ok(e) => e,
            Err(_) => {
                cursor = store.revision();
                continue;
            }
        };
        for ev in &events {
            cursor = ev.revision;
            if ev.event_type == EventType::Deleted || !ev.object.key.starts_with("pods/") {
                continue;
            }
            let node = ev
                .object
                .field("spec.nodeName")
                .unwrap_or_default()
                .to_string();
            if node.is_empty() || ev.object.field("status.phase") == Some("Running") {
                continue;
            }
            let (ns, name) = ev.object.namespace_and_name();
            let (ns, name) = (ns.to_string(), name.to_string());
            let _ = store
                .mutate(&PODS, &ns, &name, Box::new(|v| {
                    let mut v = v.clone();
                    let now = shoal_transport::status::rfc3339_from_ms(shoal_transport::status::now_ms());
                    let containers: Vec<Value> = v
                        .pointer("/spec/containers")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|c| json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": now}}}))
                        .collect();
                    v["status"] = json!({"phase": "Running", "podIP": "10.0.0.1", "startTime": now,
                        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now},
                                       {"type": "ContainersReady", "status": "True", "lastTransitionTime": now}],
                        "containerStatuses": containers});
                    Ok(Some(v))
                }))
                .await;
        }
        if events.is_empty() && changes.changed().await.is_err() {
            return;
        }
    }
}

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        if start.elapsed() > limit {
            panic!("{what}: not done after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

fn main() {
    // `cargo test --all-targets` runs this without `--bench`: then it is a small smoke run
    // that checks the scenario still completes, not a measurement.
    let measuring = std::env::args().any(|a| a == "--bench");
    let nodes = env_usize("SHOAL_BENCH_NODES", if measuring { 1000 } else { 10 });
    let pods = env_usize("SHOAL_BENCH_PODS", if measuring { 5000 } else { 50 });
    let dir = tempfile::tempdir().expect("tempdir");
    actix_rt::System::new().block_on(async move {
        let store = Store::open(dir.path(), resources::ALL).expect("store");
        create(&store, &NAMESPACES, "", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})).await;
        let now = shoal_transport::status::rfc3339_from_ms(shoal_transport::status::now_ms());
        for i in 0..nodes {
            let name = format!("node-{i:05}");
            let node = json!({"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "fleet": "bench"}},
                "spec": {},
                "status": {"capacity": {"cpu": "4", "memory": "4Gi", "pods": "110"}, "allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": now, "lastTransitionTime": now}]}});
            create(&store, &NODES, "", node).await;
        }
        // As the hub runs them: the scheduler and the controllers on threads of their own.
        let _scheduler = Scheduler::start_own_thread(store.clone());
        let _controllers =
            shoal_hub::controllers::start_all(&store, Default::default(), Default::default());
        actix_rt::spawn(fake_kubelet(store.clone()));

        // Scheduler throughput: pods created as fast as the store takes them, until all bound.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..pods {
            let s = store.clone();
            tasks.push(actix_rt::spawn(async move {
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p-{i:06}")},
                    "spec": {"containers": [{"name": "c", "image": "localhost/busybox:latest"}]}});
                create(&s, &PODS, "default", pod).await;
            }));
        }
        for t in tasks {
            t.await.expect("create task");
        }
        let created = started.elapsed();
        let s = store.clone();
        wait_until("all pods bound", Duration::from_secs(600), || s.list(&PODS, None, &|o| o.field("spec.nodeName") == Some(""), None, 1).items.is_empty()).await;
        let bound = started.elapsed();
        println!("scheduler: {pods} pods on {nodes} nodes: created in {:.2} s, all bound after {:.2} s: {:.0} pods/s", created.as_secs_f64(), bound.as_secs_f64(), pods as f64 / bound.as_secs_f64());

        // DaemonSet fan-out: create to every node's pod Running, then a template change to
        // every pod updated and Ready again.
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "collector"},
            "spec": {"selector": {"matchLabels": {"app": "collector"}},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
                "template": {"metadata": {"labels": {"app": "collector"}},
                    "spec": {"containers": [{"name": "c", "image": "localhost/busybox:1"}]}}}});
        let t0 = Instant::now();
        create(&store, &DAEMONSETS, "default", ds).await;
        let running = |s: &Store, image: &str| {
            s.list(&PODS, Some("default"), &|o| o.label("app") == Some("collector") && o.field("status.phase") == Some("Running"), None, 0)
                .items
                .iter()
                .filter(|o| o.value().pointer("/spec/containers/0/image").and_then(Value::as_str) == Some(image))
                .count()
        };
        let s = store.clone();
        wait_until("DaemonSet pods running", Duration::from_secs(600), || running(&s, "localhost/busybox:1") >= nodes).await;
        let create_all = t0.elapsed();
        println!("daemonset: create to {nodes} pods Running: {:.2} s", create_all.as_secs_f64());

        let t1 = Instant::now();
        let s = store.clone();
        s.mutate(&DAEMONSETS, "default", "collector", Box::new(|v| {
            let mut v = v.clone();
            v["spec"]["template"]["spec"]["containers"][0]["image"] = json!("localhost/busybox:2");
            Ok(Some(v))
        }))
        .await
        .expect("template change");
        wait_until("DaemonSet rolled", Duration::from_secs(1200), || {
            running(&s, "localhost/busybox:2") >= nodes && running(&s, "localhost/busybox:1") == 0
        })
        .await;
        println!("daemonset: rolling update (maxUnavailable 10%) across {nodes} nodes: {:.2} s", t1.elapsed().as_secs_f64());

        // A Deployment of `replicas`: create to all bound (the ReplicaSet controller creating
        // pods and the scheduler placing them) and to all available (the stand-in kubelet's
        // status writes feeding the ReplicaSet's and the Deployment's status).
        let replicas = env_usize("SHOAL_BENCH_REPLICAS", pods);
        let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "localhost/busybox:latest"}]}}}});
        let t2 = Instant::now();
        create(&store, &resources::DEPLOYMENTS, "default", deploy).await;
        let s = store.clone();
        let bound_web = |s: &Store| {
            s.list(&PODS, Some("default"), &|o| o.label("app") == Some("web") && o.field("spec.nodeName") != Some(""), None, 0).items.len()
        };
        wait_until("Deployment pods bound", Duration::from_secs(1200), || bound_web(&s) >= replicas).await;
        let all_bound = t2.elapsed();
        println!("deployment: {replicas} replicas on {nodes} nodes: all bound after {:.2} s: {:.0} pods/s", all_bound.as_secs_f64(), replicas as f64 / all_bound.as_secs_f64());
        wait_until("Deployment available", Duration::from_secs(1200), || {
            s.get(&resources::DEPLOYMENTS, "default", "web")
                .and_then(|d| d.value().pointer("/status/availableReplicas").and_then(Value::as_u64))
                == Some(replicas as u64)
        })
        .await;
        println!("deployment: {replicas} replicas all available after {:.2} s", t2.elapsed().as_secs_f64());
        System::current().stop();
    });
}
