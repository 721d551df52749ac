//! Job: run pods to completion.
//!
//! [`reconcile`] is the pure core: from the Job and its pods it plans pod creations (up to
//! `parallelism`, never more than the completions still missing), deletions (surplus, or all
//! active pods once the Job failed), the status (`active`, `ready`, `succeeded`, `failed`,
//! `startTime`, `completionTime`, conditions `Complete` / `Failed` with `BackoffLimitExceeded`
//! or `DeadlineExceeded`), and deleting the Job itself `ttlSecondsAfterFinished` after it
//! finished. Failures count failed pods (`restartPolicy: Never`) plus container restarts
//! (`OnFailure`), against `backoffLimit`. Counts never go down: pods removed by hand do not
//! undo a success or a failure already counted.
//!
//! Pods carry `batch.kubernetes.io/controller-uid`, `controller-uid`,
//! `batch.kubernetes.io/job-name` and `job-name` labels and the Job's controller reference;
//! the garbage collector removes them with the Job.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::pod_summary::PodSummary;
use super::replicaset::ignore_not_found;
use super::{
    controller_of, name_of, parse_time_ms, pod_from_template, pod_is_ready, rfc3339, str_at,
    uid_of, Controller, ControllerError, Key, Millis,
};
use crate::resources::{JOBS, PODS};
use crate::store::{EventType, Store, WatchEvent};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create(Value),
    DeletePod {
        name: String,
    },
    /// `ttlSecondsAfterFinished` ran out.
    DeleteJob,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub status: Value,
    pub requeue_after: Option<Duration>,
}

fn condition_true(status: &Value, type_: &str) -> bool {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .is_some_and(|a| {
            a.iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}

fn restarts(pod: &Value) -> i64 {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                .sum()
        })
        .unwrap_or(0)
}

/// The labels a Job's pods carry.
pub fn job_labels(job: &Value) -> Vec<(&'static str, String)> {
    let (uid, name) = (uid_of(job).to_string(), name_of(job).to_string());
    vec![
        ("batch.kubernetes.io/controller-uid", uid.clone()),
        ("controller-uid", uid),
        ("batch.kubernetes.io/job-name", name.clone()),
        ("job-name", name),
    ]
}

/// Reconciles one Job against the pods it owns.
pub fn reconcile(job: &Value, pods: &[Value], now: Millis) -> Result<Plan, ControllerError> {
    let old = job.get("status").cloned().unwrap_or_else(|| json!({}));
    let parallelism = job
        .pointer("/spec/parallelism")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0);
    let completions = job.pointer("/spec/completions").and_then(Value::as_i64);
    let backoff_limit = job
        .pointer("/spec/backoffLimit")
        .and_then(Value::as_i64)
        .unwrap_or(6);
    let deadline = job
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_u64);
    let ttl = job
        .pointer("/spec/ttlSecondsAfterFinished")
        .and_then(Value::as_u64);
    let on_failure = str_at(job, "/spec/template/spec/restartPolicy") == "OnFailure";
    let suspended = job
        .pointer("/spec/suspend")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let now_s = rfc3339(now);

    let mut active: Vec<&Value> = Vec::new();
    let (mut succeeded, mut failed, mut ready) = (0i64, 0i64, 0i64);
    for p in pods {
        match str_at(p, "/status/phase") {
            "Succeeded" => succeeded += 1,
            "Failed" => failed += 1,
            _ => {
                active.push(p);
                if pod_is_ready(p) {
                    ready += 1;
                }
                if on_failure {
                    failed += restarts(p);
                }
            }
        }
    }
    let succeeded = succeeded.max(old.get("succeeded").and_then(Value::as_i64).unwrap_or(0));
    let failed = failed.max(old.get("failed").and_then(Value::as_i64).unwrap_or(0));
    let start = old
        .get("startTime")
        .and_then(Value::as_str)
        .and_then(parse_time_ms)
        .unwrap_or(now);
    let mut status = old.clone();
    if !status.is_object() {
        status = json!({});
    }
    if !suspended && status.get("startTime").is_none() {
        status["startTime"] = json!(now_s);
    }
    let mut actions = Vec::new();
    let mut requeue = None;
    let mut conds: Vec<Value> = old
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let finished = condition_true(&old, "Complete") || condition_true(&old, "Failed");

    if !finished {
        let failure = if failed > backoff_limit {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if deadline.is_some_and(|d| !suspended && now >= start + d * 1000) {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            None
        };
        let complete = match completions {
            Some(c) => succeeded >= c,
            None => succeeded > 0 && active.is_empty(),
        };
        if let Some((reason, message)) = failure {
            actions.extend(active.iter().map(|p| Action::DeletePod {
                name: name_of(p).to_string(),
            }));
            super::set_condition(&mut conds, "Failed", "True", reason, message, &now_s);
            active.clear();
        } else if complete {
            super::set_condition(
                &mut conds,
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &now_s,
            );
            status["completionTime"] = json!(now_s);
        } else if !suspended {
            let have = active.len() as i64;
            let want = match completions {
                Some(c) => parallelism.min(c - succeeded).max(0),
                // A work queue: after the first success, the running pods finish on their own.
                None if succeeded > 0 => have,
                None => parallelism,
            };
            if have < want {
                let template = job
                    .pointer("/spec/template")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let labels = job_labels(job);
                let extra: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                for _ in 0..(want - have) {
                    actions.push(Action::Create(pod_from_template(
                        &template, job, &JOBS, &extra, None,
                    )?));
                }
            } else if have > want {
                let mut extra: Vec<&&Value> = active.iter().collect();
                extra.sort_by_key(|p| {
                    (
                        pod_is_ready(p),
                        std::cmp::Reverse(str_at(p, "/metadata/creationTimestamp").to_string()),
                    )
                });
                actions.extend(extra.iter().take((have - want) as usize).map(|p| {
                    Action::DeletePod {
                        name: name_of(p).to_string(),
                    }
                }));
            }
            if let Some(d) = deadline {
                requeue = Some(Duration::from_millis(
                    (start + d * 1000).saturating_sub(now) + 100,
                ));
            }
        } else {
            actions.extend(active.iter().map(|p| Action::DeletePod {
                name: name_of(p).to_string(),
            }));
            active.clear();
        }
    } else if condition_true(&old, "Failed") {
        actions.extend(active.iter().map(|p| Action::DeletePod {
            name: name_of(p).to_string(),
        }));
        active.clear();
    }
    let now_finished = conds
        .iter()
        .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
    if now_finished {
        if let Some(ttl) = ttl {
            let done_at = conds
                .iter()
                .filter(|c| {
                    (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                })
                .filter_map(|c| {
                    c.get("lastTransitionTime")
                        .and_then(Value::as_str)
                        .and_then(parse_time_ms)
                })
                .max()
                .unwrap_or(now);
            let at = done_at + ttl * 1000;
            if now >= at {
                actions.push(Action::DeleteJob);
            } else {
                requeue = Some(Duration::from_millis(at - now + 100));
            }
        }
    }
    status["active"] = json!(active.len());
    status["ready"] = json!(ready.min(active.len() as i64));
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    if conds.is_empty() {
        if let Some(o) = status.as_object_mut() {
            o.remove("conditions");
        }
    } else {
        status["conditions"] = Value::Array(conds);
    }
    Ok(Plan {
        actions,
        status,
        requeue_after: requeue,
    })
}

/// The Job controller's index: Job -> names of its pods.
#[derive(Default)]
pub struct JobController {
    owned: HashMap<Key, HashSet<String>>,
}

fn job_owner(pod: &Value) -> Option<&str> {
    controller_of(pod)
        .filter(|(k, _, _)| *k == "Job")
        .map(|(_, n, _)| n)
}

impl JobController {
    fn index(&mut self, ns: &str, pod: &str, old: Option<&str>, new: Option<&str>) {
        if let Some(o) = old.filter(|o| Some(*o) != new) {
            let k = (ns.to_string(), o.to_string());
            if let Some(s) = self.owned.get_mut(&k) {
                s.remove(pod);
                if s.is_empty() {
                    self.owned.remove(&k);
                }
            }
        }
        if let Some(n) = new {
            self.owned
                .entry((ns.to_string(), n.to_string()))
                .or_default()
                .insert(pod.to_string());
        }
    }
}

impl Controller for JobController {
    const NAME: &'static str = "job";

    fn resync(&mut self, store: &Store) -> Vec<Key> {
        self.owned.clear();
        for o in store.list(&PODS, None, &|_| true, None, 0).items {
            let v = o.value();
            if let Some(j) = job_owner(&v) {
                let (ns, name) = o.namespace_and_name();
                self.index(ns, name, None, Some(j));
            }
        }
        store
            .list(&JOBS, None, &|_| true, None, 0)
            .items
            .iter()
            .map(|o| {
                let (ns, name) = o.namespace_and_name();
                (ns.to_string(), name.to_string())
            })
            .collect()
    }

    fn keys_for(&mut self, _store: &Store, ev: &WatchEvent, out: &mut Vec<Key>) {
        let (ns, name) = ev.object.namespace_and_name();
        if ev.object.key.starts_with("jobs.batch/") {
            out.push((ns.to_string(), name.to_string()));
        } else if ev.object.key.starts_with("pods/") {
            // Design: only the owner reference matters here; a small parse, not a full one.
            let job_of = |json: &[u8]| {
                PodSummary::from_json(json)
                    .and_then(|p| p.controller)
                    .filter(|c| c.kind == "Job")
                    .map(|c| c.name)
            };
            let old_owner = ev.previous.as_ref().and_then(|p| job_of(&p.json));
            let new_owner = if ev.event_type == EventType::Deleted {
                None
            } else {
                job_of(&ev.object.json)
            };
            self.index(ns, name, old_owner.as_deref(), new_owner.as_deref());
            for o in [old_owner, new_owner].into_iter().flatten() {
                out.push((ns.to_string(), o));
            }
        }
    }

    async fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        now: Millis,
    ) -> Result<Option<Duration>, ControllerError> {
        let Some(job) = store.get(&JOBS, &key.0, &key.1) else {
            return Ok(None);
        };
        let job = job.value();
        let uid = uid_of(&job).to_string();
        let pods: Vec<Value> = self
            .owned
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|n| store.get(&PODS, &key.0, n))
            .map(|o| o.value())
            .filter(|p| controller_of(p).is_some_and(|(_, _, u)| u == uid))
            .collect();
        let plan = reconcile(&job, &pods, now)?;
        let mut first_error: Option<ControllerError> = None;
        for a in plan.actions {
            let r = match a {
                Action::Create(p) if super::namespace_open(store, &key.0) => {
                    store.create(&PODS, &key.0, p).await.map(|_| ())
                }
                Action::Create(_) => Ok(()),
                Action::DeletePod { name } => {
                    ignore_not_found(store.delete(&PODS, &key.0, &name, None).await)
                }
                Action::DeleteJob => {
                    tracing::info!(job = %format!("{}/{}", key.0, key.1), "deleting a finished job (ttlSecondsAfterFinished)");
                    return ignore_not_found(store.delete(&JOBS, &key.0, &key.1, None).await)
                        .map(|_| None)
                        .map_err(Into::into);
                }
            };
            if let Err(e) = r {
                first_error.get_or_insert(e.into());
            }
        }
        let status = plan.status;
        ignore_not_found(
            store
                .mutate(
                    &JOBS,
                    &key.0,
                    &key.1,
                    Box::new(move |v| {
                        let mut v = v.clone();
                        v["status"] = status;
                        Ok(Some(v))
                    }),
                )
                .await,
        )?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(plan.requeue_after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_764_300_000_000;

    fn job(extra: Value) -> Value {
        let mut j = json!({"metadata": {"name": "pi", "namespace": "d", "uid": "j-1"},
            "spec": {"template": {"metadata": {"labels": {"app": "pi"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "pi:1"}]}}}});
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                j["spec"][k] = v.clone();
            }
        }
        j
    }

    fn pod(name: &str, phase: &str) -> Value {
        json!({"metadata": {"name": name}, "status": {"phase": phase}})
    }

    fn with_status(mut j: Value, status: Value) -> Value {
        j["status"] = status;
        j
    }

    fn summary(p: &Plan) -> (usize, usize, bool) {
        let creates = p
            .actions
            .iter()
            .filter(|a| matches!(a, Action::Create(_)))
            .count();
        let deletes = p
            .actions
            .iter()
            .filter(|a| matches!(a, Action::DeletePod { .. }))
            .count();
        (creates, deletes, p.actions.contains(&Action::DeleteJob))
    }

    fn cond(p: &Plan, t: &str) -> Option<String> {
        p.status["conditions"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["type"] == t && c["status"] == "True"))
            .map(|c| c["reason"].as_str().unwrap_or_default().to_string())
    }

    #[test]
    fn runs_to_completion() {
        struct Case {
            what: &'static str,
            job: Value,
            pods: Vec<Value>,
            want: (usize, usize, bool),
            complete: bool,
            failed: Option<&'static str>,
        }
        let cases = vec![
            Case {
                what: "one pod by default",
                job: job(json!({})),
                pods: vec![],
                want: (1, 0, false),
                complete: false,
                failed: None,
            },
            Case {
                what: "parallelism bounded by remaining completions",
                job: job(json!({"completions": 5, "parallelism": 3})),
                pods: vec![
                    pod("a", "Succeeded"),
                    pod("b", "Succeeded"),
                    pod("c", "Succeeded"),
                ],
                want: (2, 0, false),
                complete: false,
                failed: None,
            },
            Case {
                what: "running pods count",
                job: job(json!({"completions": 5, "parallelism": 3})),
                pods: vec![pod("a", "Running"), pod("b", "Pending")],
                want: (1, 0, false),
                complete: false,
                failed: None,
            },
            Case {
                what: "completions reached",
                job: job(json!({"completions": 2})),
                pods: vec![pod("a", "Succeeded"), pod("b", "Succeeded")],
                want: (0, 0, false),
                complete: true,
                failed: None,
            },
            Case {
                what: "work queue: one success and nothing running completes",
                job: job(json!({"parallelism": 2})),
                pods: vec![pod("a", "Succeeded"), pod("b", "Succeeded")],
                want: (0, 0, false),
                complete: true,
                failed: None,
            },
            Case {
                what: "work queue: one success stops new pods",
                job: job(json!({"parallelism": 2})),
                pods: vec![pod("a", "Succeeded"), pod("b", "Running")],
                want: (0, 0, false),
                complete: false,
                failed: None,
            },
            Case {
                what: "failures below the limit are retried",
                job: job(json!({"backoffLimit": 2})),
                pods: vec![pod("a", "Failed"), pod("b", "Failed")],
                want: (1, 0, false),
                complete: false,
                failed: None,
            },
            Case {
                what: "backoff limit exceeded",
                job: job(json!({"backoffLimit": 1, "parallelism": 3, "completions": 3})),
                pods: vec![pod("a", "Failed"), pod("b", "Failed"), pod("c", "Running")],
                want: (0, 1, false),
                complete: false,
                failed: Some("BackoffLimitExceeded"),
            },
            Case {
                what: "restarts count with OnFailure",
                job: {
                    let mut j = job(json!({"backoffLimit": 2}));
                    j["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
                    j
                },
                pods: vec![
                    json!({"metadata": {"name": "a"}, "status": {"phase": "Running", "containerStatuses": [{"restartCount": 3}]}}),
                ],
                want: (0, 1, false),
                complete: false,
                failed: Some("BackoffLimitExceeded"),
            },
            Case {
                what: "active deadline",
                job: with_status(
                    job(json!({"activeDeadlineSeconds": 10})),
                    json!({"startTime": rfc3339(NOW - 11_000)}),
                ),
                pods: vec![pod("a", "Running")],
                want: (0, 1, false),
                complete: false,
                failed: Some("DeadlineExceeded"),
            },
            Case {
                what: "ttl after finished",
                job: with_status(
                    job(json!({"ttlSecondsAfterFinished": 5})),
                    json!({"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": rfc3339(NOW - 6_000)}]}),
                ),
                pods: vec![pod("a", "Succeeded")],
                want: (0, 0, true),
                complete: true,
                failed: None,
            },
            Case {
                what: "finished jobs do nothing more",
                job: with_status(
                    job(json!({})),
                    json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}),
                ),
                pods: vec![],
                want: (0, 0, false),
                complete: true,
                failed: None,
            },
            Case {
                what: "suspended jobs run nothing",
                job: job(json!({"suspend": true})),
                pods: vec![pod("a", "Running")],
                want: (0, 1, false),
                complete: false,
                failed: None,
            },
        ];
        for c in cases {
            let plan = reconcile(&c.job, &c.pods, NOW).expect(c.what);
            assert_eq!(summary(&plan), c.want, "{}", c.what);
            assert_eq!(
                cond(&plan, "Complete").is_some(),
                c.complete,
                "{}: complete",
                c.what
            );
            assert_eq!(
                cond(&plan, "Failed").as_deref(),
                c.failed,
                "{}: failed",
                c.what
            );
        }
    }

    #[test]
    fn status_counts_and_pod_labels() {
        let plan = reconcile(
            &job(json!({"completions": 3, "parallelism": 2})),
            &[
                pod("a", "Succeeded"),
                pod("b", "Failed"),
                pod("c", "Running"),
            ],
            NOW,
        )
        .expect("plan");
        assert_eq!(
            (
                plan.status["active"].clone(),
                plan.status["succeeded"].clone(),
                plan.status["failed"].clone()
            ),
            (json!(1), json!(1), json!(1))
        );
        assert_eq!(plan.status["startTime"], rfc3339(NOW));
        let Some(Action::Create(p)) = plan.actions.first() else {
            panic!("create")
        };
        assert_eq!(p["metadata"]["labels"]["job-name"], "pi");
        assert_eq!(
            p["metadata"]["labels"]["batch.kubernetes.io/controller-uid"],
            "j-1"
        );
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Job");
        // Counts never go down when pods are removed.
        let again = reconcile(
            &with_status(job(json!({"completions": 3})), plan.status.clone()),
            &[],
            NOW,
        )
        .expect("plan");
        assert_eq!(again.status["succeeded"], 1);
        assert_eq!(again.status["failed"], 1);
    }
}
