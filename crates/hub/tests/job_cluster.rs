//! Job on an in-process cluster (hub + 2 agents on the fake runtime): completions with
//! parallelism, failures reaching `backoffLimit`, and deleting a Job removing its pods.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{wait_for, Cluster};
use serde_json::{json, Value};
use shoal_hub::resources::JOBS;

const LIMIT: Duration = Duration::from_secs(30);

fn job(name: &str, spec: Value) -> Value {
    let mut j = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "localhost/task:1"}]}}}});
    if let Some(m) = spec.as_object() {
        for (k, v) in m {
            j["spec"][k] = v.clone();
        }
    }
    j
}

/// Makes the container of every running pod of `app` exit with `code` (once per pod, `done`
/// remembers them); returns how many.
fn exit_running(c: &Cluster, done: &mut HashSet<String>, app: &str, code: i32) -> usize {
    let mut n = 0;
    for p in c.pods("default", app) {
        if p["status"]["phase"] != "Running" {
            continue;
        }
        let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
        let uid = p["metadata"]["uid"].as_str().unwrap_or_default();
        if done.contains(uid) {
            continue;
        }
        if let Some(a) = c.agents.iter().find(|a| a.name == node) {
            if a.runtime.exit_container(uid, "c", code) {
                done.insert(uid.to_string());
                n += 1;
            }
        }
    }
    n
}

fn job_status(c: &Cluster, name: &str) -> Value {
    c.store
        .get(&JOBS, "default", name)
        .map(|o| o.value()["status"].clone())
        .unwrap_or_default()
}

fn has_condition(st: &Value, t: &str, reason: Option<&str>) -> bool {
    st["conditions"].as_array().is_some_and(|a| {
        a.iter().any(|c| {
            c["type"] == t && c["status"] == "True" && reason.is_none_or(|r| c["reason"] == r)
        })
    })
}

#[actix_rt::test]
async fn job_completes_fails_and_is_cleaned_up() {
    let c = Cluster::start(2).await;
    let mut done = HashSet::new();

    // 3 completions, 2 at a time.
    c.create(
        &JOBS,
        "default",
        job("pi", json!({"completions": 3, "parallelism": 2})),
    )
    .await;
    let mut succeeded = 0;
    for _ in 0..200 {
        let st = job_status(&c, "pi");
        assert!(
            st["active"].as_i64().unwrap_or(0) <= 2,
            "parallelism respected: {st}"
        );
        if has_condition(&st, "Complete", None) {
            break;
        }
        succeeded += exit_running(&c, &mut done, "pi", 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = job_status(&c, "pi");
    assert!(
        has_condition(&st, "Complete", None),
        "the job completed: {st}"
    );
    assert_eq!(st["succeeded"], 3);
    assert_eq!(succeeded, 3, "exactly three pods ran to success");
    assert!(st["completionTime"].is_string());

    // Failures: backoffLimit 1 means the second failure fails the Job.
    c.create(&JOBS, "default", job("flaky", json!({"backoffLimit": 1})))
        .await;
    let mut failures = 0;
    wait_for("BackoffLimitExceeded", LIMIT, || {
        failures += exit_running(&c, &mut done, "flaky", 1);
        has_condition(
            &job_status(&c, "flaky"),
            "Failed",
            Some("BackoffLimitExceeded"),
        )
    })
    .await;
    assert_eq!(failures, 2, "one retry, then the limit");
    assert_eq!(job_status(&c, "flaky")["failed"], 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        c.pods("default", "flaky")
            .iter()
            .filter(|p| p["status"]["phase"] != "Failed")
            .count(),
        0,
        "no new pods after failing"
    );

    // ttlSecondsAfterFinished: 0 removes the finished Job and (through the GC) its pods.
    c.create(
        &JOBS,
        "default",
        job("once", json!({"ttlSecondsAfterFinished": 0})),
    )
    .await;
    wait_for("the job to run and finish", LIMIT, || {
        exit_running(&c, &mut done, "once", 0);
        c.store.get(&JOBS, "default", "once").is_none()
    })
    .await;
    wait_for("its pods to be collected", LIMIT, || {
        c.pods("default", "once").is_empty()
    })
    .await;

    // Deleting a Job removes its pods.
    c.store
        .delete(&JOBS, "default", "pi", None)
        .await
        .expect("delete");
    wait_for("the pods of the deleted job to go", LIMIT, || {
        c.pods("default", "pi").is_empty()
    })
    .await;
    c.stop().await;
}
