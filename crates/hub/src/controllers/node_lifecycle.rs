//! Node lifecycle: Ready / NotReady / Unknown from how recently each node was heard, the
//! matching taints, and (rarely, on an edge fleet) eviction.
//!
//! Inputs: the in-memory [`Heartbeats`] kept by status ingest (heartbeats are never written
//! to the store) and each Node's Ready condition. [`assess`] is the pure core:
//! - a node not heard from for longer than [`LifecycleConfig::unknown_after`] gets Ready
//!   `Unknown` (`NodeStatusUnknown`); nodes never heard since the hub started are measured
//!   from the hub's start;
//! - taints follow Ready: `node.kubernetes.io/not-ready` (False) or
//!   `node.kubernetes.io/unreachable` (Unknown), each `NoSchedule` and `NoExecute`, removed
//!   when the node is Ready again;
//! - **edge semantics**: a device that is offline keeps its pods. Pods are evicted (deleted, so
//!   their controllers replace them elsewhere) only after the node has been not-Ready for
//!   [`LifecycleConfig::evict_after`] (default 24 h; `None` never evicts), never DaemonSet
//!   pods, and never while every node is stale at once (that is the hub losing its own
//!   link, not the fleet failing).
//!
//! While the hub's own MQTT connection is down, nothing is assessed (see `run_once`).
//!
//! The actor runs [`assess`] on a timer ([`LifecycleConfig::period`]); its work is one pass
//! over the nodes plus the pods of nodes being evicted.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use serde_json::{json, Value};

use super::replicaset::ignore_not_found;
use super::{controller_of, name_of, parse_time_ms, rfc3339, str_at, Millis};
use crate::resources::{NODES, PODS};
use crate::status_ingest::Heartbeats;
use crate::store::Store;

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";

#[derive(Debug, Clone)]
pub struct LifecycleConfig {
    /// Not heard from for this long: Ready becomes Unknown. Agents report every 10 s.
    pub unknown_after: Duration,
    /// Not Ready for this long: evict the node's pods (except DaemonSet pods). `None`: never.
    pub evict_after: Option<Duration>,
    /// How often nodes are assessed.
    pub period: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            unknown_after: Duration::from_secs(40),
            evict_after: Some(Duration::from_secs(24 * 3600)),
            period: Duration::from_secs(5),
        }
    }
}

/// What the assessment needs to know about one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeObs {
    pub name: String,
    /// Last heard (ms); `None` when not heard since the hub started.
    pub last_heard: Option<Millis>,
    /// The Ready condition's status ("True", "False", "Unknown", or "" when absent).
    pub ready: String,
    /// When Ready last changed.
    pub ready_since: Option<Millis>,
    /// `(key, effect)` of the node's taints.
    pub taints: Vec<(String, String)>,
}

impl NodeObs {
    pub fn from_value(v: &Value, last_heard: Option<Millis>) -> NodeObs {
        let ready = v
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
            .cloned();
        NodeObs {
            name: name_of(v).to_string(),
            last_heard,
            ready: ready
                .as_ref()
                .map(|c| str_at(c, "/status").to_string())
                .unwrap_or_default(),
            ready_since: ready
                .as_ref()
                .and_then(|c| c.get("lastTransitionTime"))
                .and_then(Value::as_str)
                .and_then(parse_time_ms),
            taints: v
                .pointer("/spec/taints")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            (
                                str_at(t, "/key").to_string(),
                                str_at(t, "/effect").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// A change to make to one node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeChange {
    pub name: String,
    /// Set Ready to Unknown.
    pub mark_unknown: bool,
    /// The lifecycle taints the node should carry (`(key, effect)`), replacing ours.
    pub taints: Vec<(String, String)>,
    /// Delete the node's evictable pods.
    pub evict: bool,
}

/// Assesses every node at `now`; `started` is when the hub started.
pub fn assess(
    nodes: &[NodeObs],
    now: Millis,
    started: Millis,
    cfg: &LifecycleConfig,
) -> Vec<NodeChange> {
    let unknown_ms = cfg.unknown_after.as_millis() as u64;
    let stale = |n: &NodeObs| {
        now.saturating_sub(n.last_heard.unwrap_or(started).max(started.min(now))) > unknown_ms
    };
    let all_stale = !nodes.is_empty() && nodes.iter().all(stale);
    let mut out = Vec::new();
    for n in nodes {
        let is_stale = stale(n);
        let mark_unknown = is_stale && n.ready != "Unknown";
        let ready = if is_stale {
            "Unknown"
        } else {
            n.ready.as_str()
        };
        let wanted = wanted_taints(ready);
        let ours: Vec<(String, String)> = n
            .taints
            .iter()
            .filter(|(k, _)| is_lifecycle_taint(k))
            .cloned()
            .collect();
        let since = if mark_unknown {
            now
        } else {
            n.ready_since.unwrap_or(now)
        };
        let evict = ready != "True"
            && !all_stale
            && cfg
                .evict_after
                .is_some_and(|d| now.saturating_sub(since) >= d.as_millis() as u64);
        if mark_unknown || ours != wanted || evict {
            out.push(NodeChange {
                name: n.name.clone(),
                mark_unknown,
                taints: wanted,
                evict,
            });
        }
    }
    out
}

/// The lifecycle taints a node whose Ready condition is `ready` should carry.
fn wanted_taints(ready: &str) -> Vec<(String, String)> {
    let pair = |key: &str| {
        vec![
            (key.to_string(), "NoSchedule".to_string()),
            (key.to_string(), "NoExecute".to_string()),
        ]
    };
    match ready {
        // No Ready condition yet: a node that just registered, not yet a lost one.
        "True" | "" => vec![],
        "False" => pair(TAINT_NOT_READY),
        _ => pair(TAINT_UNREACHABLE),
    }
}

fn is_lifecycle_taint(key: &str) -> bool {
    key == TAINT_NOT_READY || key == TAINT_UNREACHABLE
}

/// Replaces the node's lifecycle taints with `wanted`, keeping every other taint.
fn replace_lifecycle_taints(v: &mut Value, wanted: &[(String, String)], ts: &str) {
    let mut taints: Vec<Value> = v
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    taints.retain(|t| !t["key"].as_str().is_some_and(is_lifecycle_taint));
    for (k, e) in wanted {
        taints.push(json!({"key": k, "effect": e, "timeAdded": ts}));
    }
    if taints.is_empty() {
        if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
            s.remove("taints");
        }
    } else {
        v["spec"]["taints"] = Value::Array(taints);
    }
}

/// Makes a node's lifecycle taints follow the Ready condition it now has, in the same write
/// that changed Ready (status ingest calls this), so a node that turns Ready is schedulable
/// at once instead of after the next lifecycle pass. Unchanged taints are left as they are
/// (a repeated report stays a no-op write).
pub fn taints_follow_ready(v: &mut Value, ts: &str) {
    let obs = NodeObs::from_value(v, None);
    let wanted = wanted_taints(&obs.ready);
    let ours: Vec<(String, String)> = obs
        .taints
        .into_iter()
        .filter(|(k, _)| is_lifecycle_taint(k))
        .collect();
    if ours != wanted {
        replace_lifecycle_taints(v, &wanted, ts);
    }
}

/// Pods eviction may remove: not owned by a DaemonSet.
pub fn evictable(pod: &Value) -> bool {
    controller_of(pod).is_none_or(|(k, _, _)| k != "DaemonSet")
}

/// The node lifecycle actor.
pub struct NodeLifecycle {
    pub store: Store,
    pub heartbeats: Heartbeats,
    pub config: LifecycleConfig,
    pub started: Millis,
}

impl Actor for NodeLifecycle {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (store, heartbeats, cfg, started) = (
            self.store.clone(),
            self.heartbeats.clone(),
            self.config.clone(),
            self.started,
        );
        ctx.spawn(
            async move {
                let mut tick = tokio::time::interval(cfg.period);
                loop {
                    tick.tick().await;
                    run_once(&store, &heartbeats, &cfg, started).await;
                }
            }
            .into_actor(self),
        );
    }
}

async fn run_once(store: &Store, heartbeats: &Heartbeats, cfg: &LifecycleConfig, started: Millis) {
    let now = shoal_transport::status::now_ms();
    // Design: while the hub cannot reach the MQTT broker it hears no node, which says nothing
    // about the nodes: decisions pause, and once the broker is back every node gets a full
    // `unknown_after` from then to report again (as after a hub start).
    let (broker_up, broker_since) = heartbeats.broker();
    if !broker_up {
        tracing::debug!("node lifecycle paused: the hub has no MQTT connection");
        return;
    }
    let started = started.max(broker_since);
    let heard: HashMap<String, u64> = heartbeats.snapshot();
    let nodes: Vec<NodeObs> = store
        .list(&NODES, None, &|_| true, None, 0)
        .items
        .iter()
        .map(|o| {
            let v = o.value();
            let name = name_of(&v).to_string();
            NodeObs::from_value(&v, heard.get(&name).copied())
        })
        .collect();
    for change in assess(&nodes, now, started, cfg) {
        let c = change.clone();
        let ts = rfc3339(now);
        let r = store
            .mutate(&NODES, "", &change.name, Box::new(move |v| {
                let mut v = v.clone();
                if c.mark_unknown {
                    if !v.pointer("/status/conditions").is_some_and(Value::is_array) {
                        v["status"]["conditions"] = json!([]);
                    }
                    let cond = json!({"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "The node's agent stopped posting node status.", "lastHeartbeatTime": ts, "lastTransitionTime": ts});
                    if let Some(cs) = v.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
                        match cs.iter_mut().find(|x| x["type"] == "Ready") {
                            Some(x) => {
                                if x["status"] != "Unknown" {
                                    *x = cond;
                                }
                            }
                            None => cs.push(cond),
                        }
                    }
                }
                replace_lifecycle_taints(&mut v, &c.taints, &ts);
                Ok(Some(v))
            }))
            .await;
        if let Err(e) = ignore_not_found(r) {
            tracing::warn!(node = %change.name, error = %e, "cannot update node lifecycle state");
        }
        if change.evict {
            let node = change.name.clone();
            for p in store
                .list(
                    &PODS,
                    None,
                    &|o| o.field("spec.nodeName") == Some(node.as_str()),
                    None,
                    0,
                )
                .items
            {
                let v = p.value();
                if evictable(&v) {
                    let (ns, name) = p.namespace_and_name();
                    tracing::info!(pod = %format!("{ns}/{name}"), node = %node, "evicting a pod from a node that has been unreachable too long");
                    if let Err(e) =
                        ignore_not_found(store.delete(&PODS, ns, name, Some(p.revision)).await)
                    {
                        tracing::debug!(error = %e, "eviction failed; will retry");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_764_300_000_000;
    const STARTED: Millis = NOW - 3_600_000;

    fn obs(
        name: &str,
        heard_s_ago: Option<u64>,
        ready: &str,
        since_s_ago: u64,
        taints: &[(&str, &str)],
    ) -> NodeObs {
        NodeObs {
            name: name.into(),
            last_heard: heard_s_ago.map(|s| NOW - s * 1000),
            ready: ready.into(),
            ready_since: Some(NOW - since_s_ago * 1000),
            taints: taints
                .iter()
                .map(|(k, e)| (k.to_string(), e.to_string()))
                .collect(),
        }
    }

    fn unreachable() -> Vec<(String, String)> {
        vec![
            (TAINT_UNREACHABLE.into(), "NoSchedule".into()),
            (TAINT_UNREACHABLE.into(), "NoExecute".into()),
        ]
    }

    #[test]
    fn freshness_conditions_taints_and_eviction() {
        let cfg = LifecycleConfig {
            unknown_after: Duration::from_secs(40),
            evict_after: Some(Duration::from_secs(3600)),
            period: Duration::from_secs(5),
        };
        let fresh = obs("fresh", Some(5), "True", 100, &[]);
        let cases: Vec<(&str, Vec<NodeObs>, Vec<NodeChange>)> = vec![
            (
                "fresh and ready: nothing",
                vec![fresh.clone(), obs("b", Some(1), "True", 10, &[])],
                vec![],
            ),
            (
                "just registered, no Ready condition yet: nothing",
                vec![fresh.clone(), obs("new", Some(1), "", 0, &[])],
                vec![],
            ),
            (
                "stale: Unknown and unreachable taints, no eviction yet",
                vec![fresh.clone(), obs("gone", Some(60), "True", 100, &[])],
                vec![NodeChange {
                    name: "gone".into(),
                    mark_unknown: true,
                    taints: unreachable(),
                    evict: false,
                }],
            ),
            (
                "agent says NotReady: not-ready taints",
                vec![fresh.clone(), obs("sick", Some(1), "False", 10, &[])],
                vec![NodeChange {
                    name: "sick".into(),
                    mark_unknown: false,
                    taints: vec![
                        (TAINT_NOT_READY.into(), "NoSchedule".into()),
                        (TAINT_NOT_READY.into(), "NoExecute".into()),
                    ],
                    evict: false,
                }],
            ),
            (
                "ready again: taints removed",
                vec![
                    fresh.clone(),
                    obs(
                        "back",
                        Some(1),
                        "True",
                        1,
                        &[
                            (TAINT_UNREACHABLE, "NoExecute"),
                            ("dedicated", "NoSchedule"),
                        ],
                    ),
                ],
                vec![NodeChange {
                    name: "back".into(),
                    mark_unknown: false,
                    taints: vec![],
                    evict: false,
                }],
            ),
            (
                "unreachable past the eviction grace: evict",
                vec![
                    fresh.clone(),
                    obs(
                        "lost",
                        Some(4000),
                        "Unknown",
                        3700,
                        &[
                            (TAINT_UNREACHABLE, "NoSchedule"),
                            (TAINT_UNREACHABLE, "NoExecute"),
                        ],
                    ),
                ],
                vec![NodeChange {
                    name: "lost".into(),
                    mark_unknown: false,
                    taints: unreachable(),
                    evict: true,
                }],
            ),
            (
                "every node stale at once: no eviction",
                vec![
                    obs(
                        "a",
                        Some(4000),
                        "Unknown",
                        3700,
                        &[
                            (TAINT_UNREACHABLE, "NoSchedule"),
                            (TAINT_UNREACHABLE, "NoExecute"),
                        ],
                    ),
                    obs(
                        "b",
                        Some(4000),
                        "Unknown",
                        3700,
                        &[
                            (TAINT_UNREACHABLE, "NoSchedule"),
                            (TAINT_UNREACHABLE, "NoExecute"),
                        ],
                    ),
                ],
                vec![],
            ),
            (
                "never heard since start, start is recent enough",
                vec![
                    fresh.clone(),
                    NodeObs {
                        last_heard: None,
                        ..obs("quiet", None, "True", 10, &[])
                    },
                ],
                vec![NodeChange {
                    name: "quiet".into(),
                    mark_unknown: true,
                    taints: unreachable(),
                    evict: false,
                }],
            ),
        ];
        for (what, nodes, want) in cases {
            assert_eq!(assess(&nodes, NOW, STARTED, &cfg), want, "{what}");
        }
        // Hub just started: nodes not heard yet are given the grace from the start.
        let just_started = assess(
            &[
                fresh.clone(),
                NodeObs {
                    last_heard: None,
                    ..obs("quiet", None, "True", 10, &[])
                },
            ],
            NOW,
            NOW - 5_000,
            &cfg,
        );
        assert!(just_started.is_empty(), "{just_started:?}");
        // Eviction off.
        let never = LifecycleConfig {
            evict_after: None,
            ..cfg.clone()
        };
        let nodes = vec![
            fresh,
            obs(
                "lost",
                Some(99_999),
                "Unknown",
                99_999,
                &[
                    (TAINT_UNREACHABLE, "NoSchedule"),
                    (TAINT_UNREACHABLE, "NoExecute"),
                ],
            ),
        ];
        assert!(assess(&nodes, NOW, STARTED, &never).is_empty());
    }

    #[test]
    fn daemonset_pods_are_never_evicted() {
        let ds_pod = json!({"metadata": {"ownerReferences": [{"kind": "DaemonSet", "name": "a", "uid": "u", "controller": true}]}});
        let rs_pod = json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "a", "uid": "u", "controller": true}]}});
        assert!(!evictable(&ds_pod));
        assert!(evictable(&rs_pod));
        assert!(evictable(&json!({"metadata": {}})));
    }

    #[test]
    fn taints_follow_the_ready_condition_in_the_same_write() {
        let node = |ready: &str, taints: Value| {
            json!({"metadata": {"name": "n"}, "spec": {"taints": taints},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}})
        };
        let keys = |v: &Value| -> Vec<(String, String)> {
            v.pointer("/spec/taints")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|t| (str_at(t, "/key").into(), str_at(t, "/effect").into()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let dedicated = json!({"key": "dedicated", "effect": "NoSchedule"});
        let not_ready = json!([
            {"key": TAINT_NOT_READY, "effect": "NoSchedule", "timeAdded": "t0"},
            {"key": TAINT_NOT_READY, "effect": "NoExecute", "timeAdded": "t0"},
            dedicated.clone(),
        ]);

        // Turning Ready drops the lifecycle taints and keeps the operator's.
        let mut v = node("True", not_ready.clone());
        taints_follow_ready(&mut v, "t1");
        assert_eq!(keys(&v), vec![("dedicated".into(), "NoSchedule".into())]);

        // Still NotReady with the right taints: untouched (timeAdded kept, no write).
        let mut v = node("False", not_ready.clone());
        let before = v.clone();
        taints_follow_ready(&mut v, "t1");
        assert_eq!(v, before);

        // Losing the agent: unreachable replaces not-ready.
        let mut v = node("Unknown", not_ready);
        taints_follow_ready(&mut v, "t1");
        assert_eq!(
            keys(&v),
            vec![
                ("dedicated".into(), "NoSchedule".into()),
                (TAINT_UNREACHABLE.into(), "NoSchedule".into()),
                (TAINT_UNREACHABLE.into(), "NoExecute".into()),
            ]
        );

        // Ready with no taints at all: no empty `taints` array appears.
        let mut v =
            json!({"spec": {}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let before = v.clone();
        taints_follow_ready(&mut v, "t1");
        assert_eq!(v, before);
    }
}
