//! The controller manager: one actor per workload kind, each a shell around a pure,
//! level-triggered `reconcile(owner, observed, now) -> Plan`.
//!
//! Data flow (the same for every controller):
//! 1. [`ControllerActor`] follows the store's change stream with one cursor
//!    ([`Store::events_after`]); it never lists the whole store per event.
//! 2. [`Controller::keys_for`] maps each change to the owner keys it can affect (through
//!    `ownerReferences` and label selectors, and the controller's own small indexes).
//! 3. Dirty keys go into a deduplicated work queue (bounded by the number of owners, since a
//!    key is queued at most once); [`Controller::sync`] reads the owner and what it observes
//!    from the store, calls the pure reconcile, and carries the plan out.
//! 4. Errors requeue the key with exponential back-off ([`BACKOFF_MIN`] .. [`BACKOFF_MAX`]);
//!    a plan may also ask to be looked at again later (e.g. `minReadySeconds`).
//!
//! Syncs are coalesced: every change read in one step (up to [`EVENTS_PER_STEP`]) is folded
//! into the queue before any sync runs, so many changes to one owner cost one sync.
//!
//! All controllers run on one arbiter (thread) of their own ([`start_all`]), so node
//! sessions and status ingest on the main thread do not delay them, nor they those.
//!
//! Design: controllers read owners from the store's committed state. Those that read what
//! they observe from the committed store too need no "expectations"; the ReplicaSet/RC
//! controller reads pods from an index fed by the change stream (it would otherwise parse
//! every pod of a ReplicaSet per sync) and so keeps [`expectations::Expectations`] to avoid
//! creating the same pod twice.
//!
//! The shared helpers here are pure: selectors, owner references, pod readiness, and the
//! pod built from a template.

pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod expectations;
pub mod gc;
pub mod job;
pub mod namespace;
pub mod node_lifecycle;
pub mod pod_index;
pub mod pod_summary;
pub mod replicaset;
pub mod service_lb;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{json, Value};

use crate::api::admission::{self, FieldValidation};
use crate::resources::{ResourceInfo, PODS};
use crate::selector::{LabelSelector, Requirement};
use crate::store::{Store, StoreError, WatchEvent};

/// `(namespace, name)` of an owner.
pub type Key = (String, String);

/// Shortest back-off after a failed sync.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Longest back-off after repeated failures.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Changes read from the store per step.
const EVENTS_PER_STEP: usize = 4096;
/// Keys synced between two reads of the change stream.
const SYNCS_PER_STEP: usize = 256;
/// Shortest time between two syncs of one owner that changes trigger. Design: a sync of a
/// 10,000-replica ReplicaSet walks 10,000 pod summaries, and its pods' status changes arrive
/// in a steady stream; without pacing it would be synced on every step. Changes within the
/// interval are folded into one sync at its end (as kube-controller-manager's rate-limited
/// work queues do); level-triggered reconciles make the delay harmless.
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Why a sync failed; every failure requeues the key with back-off.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("building {what}: {message}")]
    Build { what: String, message: String },
}

/// Writes one sync keeps in flight at once: they share the store's group commit, so a
/// DaemonSet reaching a thousand nodes costs a few fsyncs, not a thousand. Design: as large
/// as a ReplicaSet's burst of creates (500), so a burst is one or two group commits (the
/// store commits up to 512 writes per fsync) instead of eight rounds of 64.
pub const WRITES_IN_FLIGHT: usize = 512;

/// A write a plan asks for.
pub type Write<'a> = futures::future::LocalBoxFuture<'a, Result<(), ControllerError>>;

/// Runs writes with at most [`WRITES_IN_FLIGHT`] at once; returns the first error (the rest
/// still run: every write is independent and level-triggered).
pub async fn run_writes(writes: Vec<Write<'_>>) -> Option<ControllerError> {
    use futures::StreamExt;
    let mut first = None;
    let mut results = futures::stream::iter(writes).buffer_unordered(WRITES_IN_FLIGHT);
    while let Some(r) = results.next().await {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    }
    first
}

/// Milliseconds since the Unix epoch: the `now` every reconcile takes.
pub type Millis = u64;

/// What a controller plugs into the shared actor shell.
pub(crate) trait Controller: Unpin + 'static {
    /// For logs.
    const NAME: &'static str;
    /// Rebuilds indexes from the store and returns every owner key (at start and when the
    /// change stream expired).
    fn resync(&mut self, store: &Store) -> Vec<Key>;
    /// The owner keys one change can affect.
    fn keys_for(&mut self, store: &Store, ev: &WatchEvent, out: &mut Vec<Key>);
    /// Reconciles one owner. `Ok(Some(d))` asks to be synced again after `d`.
    fn sync(
        &mut self,
        store: &Store,
        key: &Key,
        now: Millis,
    ) -> impl Future<Output = Result<Option<Duration>, ControllerError>>;
}

/// The actor shell around a [`Controller`].
pub(crate) struct ControllerActor<C> {
    store: Store,
    controller: Option<C>,
}

impl<C: Controller> ControllerActor<C> {
    pub(crate) fn new(store: Store, controller: C) -> Self {
        ControllerActor {
            store,
            controller: Some(controller),
        }
    }
}

impl<C: Controller> Actor for ControllerActor<C> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(c) = self.controller.take() {
            ctx.spawn(run(self.store.clone(), c).into_actor(self));
        }
    }
}

/// The work queue: each key at most once, plus delayed keys, failure counts and when each
/// key was last synced (for pacing).
#[derive(Default)]
struct WorkQueue {
    ready: VecDeque<Key>,
    queued: HashSet<Key>,
    delayed: HashMap<Key, Instant>,
    failures: HashMap<Key, u32>,
    last_sync: HashMap<Key, Instant>,
}

impl WorkQueue {
    /// Queues a key a change touched: at once, or at the end of its pacing interval if it was
    /// synced less than [`MIN_SYNC_INTERVAL`] ago.
    fn push_paced(&mut self, k: Key, now: Instant) {
        match self.last_sync.get(&k) {
            Some(t) if now < *t + MIN_SYNC_INTERVAL => {
                let at = *t + MIN_SYNC_INTERVAL;
                if !self.queued.contains(&k) {
                    self.delay(k, at);
                }
            }
            _ => self.push(k),
        }
    }

    /// Records a sync of `k` at `now`; forgets syncs older than the pacing interval once
    /// there are many (bounded by the owners synced within one interval).
    fn synced(&mut self, k: &Key, now: Instant) {
        if self.last_sync.len() >= 1024 {
            self.last_sync.retain(|_, t| now < *t + MIN_SYNC_INTERVAL);
        }
        self.last_sync.insert(k.clone(), now);
    }

    fn push(&mut self, k: Key) {
        if self.queued.insert(k.clone()) {
            self.ready.push_back(k);
        }
    }

    fn pop(&mut self) -> Option<Key> {
        let k = self.ready.pop_front()?;
        self.queued.remove(&k);
        Some(k)
    }

    fn delay(&mut self, k: Key, at: Instant) {
        let e = self.delayed.entry(k).or_insert(at);
        if at < *e {
            *e = at;
        }
    }

    fn promote_due(&mut self, now: Instant) {
        let due: Vec<Key> = self
            .delayed
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.delayed.remove(&k);
            self.push(k);
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.delayed.values().min().copied()
    }
}

/// Starts every controller on a new arbiter (thread) of their own, shared by them all (they
/// are cooperative: each yields between steps); returns it so the caller can stop it.
pub fn start_all(
    store: &Store,
    heartbeats: crate::status_ingest::Heartbeats,
    lifecycle: node_lifecycle::LifecycleConfig,
) -> Arbiter {
    use replicaset::{ReplicaController, ReplicaKind};
    let arbiter = Arbiter::new();
    let on = arbiter.handle();
    fn start<C: Controller + Send>(on: &ArbiterHandle, store: &Store, c: C) {
        let store = store.clone();
        ControllerActor::start_in_arbiter(on, move |_| ControllerActor::new(store, c));
    }
    start(&on, store, ReplicaController::new(ReplicaKind::ReplicaSet));
    start(
        &on,
        store,
        ReplicaController::new(ReplicaKind::ReplicationController),
    );
    start(&on, store, deployment::DeploymentController::default());
    start(&on, store, daemonset::DaemonSetController::default());
    start(&on, store, job::JobController::default());
    start(&on, store, gc::GarbageCollector::default());
    start(&on, store, namespace::NamespaceController::default());
    start(&on, store, endpoints::EndpointsController::default());
    start(&on, store, service_lb::LoadBalancerController::default());
    let lifecycle = node_lifecycle::NodeLifecycle {
        store: store.clone(),
        heartbeats,
        config: lifecycle,
        started: shoal_transport::status::now_ms(),
    };
    node_lifecycle::NodeLifecycle::start_in_arbiter(&on, move |_| lifecycle);
    arbiter
}

/// Back-off after `failures` consecutive failures.
pub fn backoff(failures: u32) -> Duration {
    let exp = failures.min(16);
    (BACKOFF_MIN * 2u32.saturating_pow(exp)).min(BACKOFF_MAX)
}

async fn run<C: Controller>(store: Store, mut c: C) {
    let mut changes = store.subscribe();
    let mut cursor = store.revision();
    let mut q = WorkQueue::default();
    for k in c.resync(&store) {
        q.push(k);
    }
    let mut keys = Vec::new();
    loop {
        let mut more = false;
        match store.events_after(cursor, EVENTS_PER_STEP) {
            Ok(events) => {
                more = events.len() == EVENTS_PER_STEP;
                for ev in &events {
                    cursor = ev.revision;
                    keys.clear();
                    c.keys_for(&store, ev, &mut keys);
                    let now = Instant::now();
                    for k in keys.drain(..) {
                        q.push_paced(k, now);
                    }
                }
            }
            Err(StoreError::Expired { .. }) => {
                tracing::warn!(
                    controller = C::NAME,
                    "fell behind the change history; resyncing"
                );
                cursor = store.revision();
                for k in c.resync(&store) {
                    q.push(k);
                }
            }
            Err(e) => {
                tracing::error!(controller = C::NAME, error = %e, "cannot read store changes")
            }
        }
        q.promote_due(Instant::now());
        for _ in 0..SYNCS_PER_STEP {
            let Some(key) = q.pop() else { break };
            let now = shoal_transport::status::now_ms();
            q.synced(&key, Instant::now());
            match c.sync(&store, &key, now).await {
                Ok(again) => {
                    q.failures.remove(&key);
                    if let Some(d) = again {
                        q.delay(key, Instant::now() + d);
                    }
                }
                Err(e) => {
                    let n = q.failures.entry(key.clone()).or_default();
                    *n += 1;
                    let d = backoff(*n);
                    tracing::debug!(controller = C::NAME, key = %format!("{}/{}", key.0, key.1), error = %e, retry_in = ?d, "sync failed");
                    q.delay(key, Instant::now() + d);
                }
            }
        }
        if more || !q.ready.is_empty() {
            tokio::task::yield_now().await;
            continue;
        }
        let sleep = q
            .next_due()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep_until(sleep) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pure helpers shared by the controllers.

/// Converts a `metav1.LabelSelector` (`matchLabels` + `matchExpressions`) into a selector.
/// An empty or absent selector is `Ok(None)`: controllers treat it as matching nothing.
pub fn selector_from_label_selector(v: Option<&Value>) -> Result<Option<LabelSelector>, String> {
    let Some(v) = v.filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let mut reqs = Vec::new();
    if let Some(m) = v.get("matchLabels").and_then(Value::as_object) {
        for (k, val) in m {
            reqs.push(Requirement::Eq(
                k.clone(),
                val.as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    if let Some(es) = v.get("matchExpressions").and_then(Value::as_array) {
        for e in es {
            let key = e
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let values: Vec<String> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let op = e
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            reqs.push(match op {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::NotExists(key),
                other => {
                    return Err(format!(
                    "matchExpressions operator {other:?} is not In, NotIn, Exists or DoesNotExist"
                ))
                }
            });
        }
    }
    if reqs.is_empty() {
        return Ok(None);
    }
    Ok(Some(LabelSelector { requirements: reqs }))
}

/// An equality selector from a plain map (ReplicationController's `spec.selector`).
pub fn selector_from_map(m: Option<&Value>) -> Option<LabelSelector> {
    let m = m?.as_object()?;
    if m.is_empty() {
        return None;
    }
    Some(LabelSelector {
        requirements: m
            .iter()
            .map(|(k, v)| Requirement::Eq(k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
    })
}

/// Labels of an object (or template) as a sorted map.
pub fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

pub fn name_of(v: &Value) -> &str {
    str_at(v, "/metadata/name")
}

pub fn uid_of(v: &Value) -> &str {
    str_at(v, "/metadata/uid")
}

/// Whether the object is being deleted (foreground/orphan deletion in progress).
pub fn is_deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// The controller owner reference of an object, if any.
pub fn controller_ref(v: &Value) -> Option<&Value> {
    v.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
}

/// `(kind, name, uid)` of the controller owner.
pub fn controller_of(v: &Value) -> Option<(&str, &str, &str)> {
    let r = controller_ref(v)?;
    Some((
        r.get("kind")?.as_str()?,
        r.get("name")?.as_str()?,
        r.get("uid")?.as_str()?,
    ))
}

/// The owner reference a controller puts on what it creates or adopts.
pub fn owner_reference(owner: &Value, res: &ResourceInfo) -> Value {
    json!({
        "apiVersion": res.api_version(),
        "kind": res.kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Parses an RFC 3339 time (as the store and agents write them) into milliseconds.
pub fn parse_time_ms(s: &str) -> Option<Millis> {
    // YYYY-MM-DDTHH:MM:SS[.fff]Z
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut ms = 0i64;
    if b.get(19) == Some(&b'.') {
        let frac: String = s[20..].chars().take_while(char::is_ascii_digit).collect();
        let padded = format!("{:0<3}", &frac[..frac.len().min(3)]);
        ms = padded.parse().ok()?;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = if y2 >= 0 { y2 } else { y2 - 399 } / 400;
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let total = ((days * 24 + h) * 60 + mi) * 60 + se;
    u64::try_from(total * 1000 + ms).ok()
}

pub fn rfc3339(ms: Millis) -> String {
    shoal_transport::status::rfc3339_from_ms(ms)
}

/// A pod that still counts: not finished and not being deleted.
pub fn pod_is_active(pod: &Value) -> bool {
    let phase = str_at(pod, "/status/phase");
    phase != "Succeeded" && phase != "Failed" && !is_deleting(pod)
}

pub(crate) fn ready_condition(pod: &Value) -> Option<&Value> {
    pod.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
}

/// Ready per the pod's `Ready` condition.
pub fn pod_is_ready(pod: &Value) -> bool {
    ready_condition(pod).is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// Ready for at least `min_ready_secs` at `now`. `Err(remaining)` when ready but not long
/// enough yet (the caller requeues after it); `Ok(false)` when not ready.
pub fn pod_availability(pod: &Value, min_ready_secs: u64, now: Millis) -> Result<bool, Duration> {
    if !pod_is_ready(pod) {
        return Ok(false);
    }
    if min_ready_secs == 0 {
        return Ok(true);
    }
    let since = ready_condition(pod)
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .and_then(parse_time_ms)
        .unwrap_or(0);
    let until = since + min_ready_secs * 1000;
    if now >= until {
        Ok(true)
    } else {
        Err(Duration::from_millis(until - now))
    }
}

/// Builds a pod from a pod template: labels and annotations from the template plus
/// `extra_labels`, `generateName: <owner>-`, the owner reference, and the same
/// normalization and defaults as a pod created through the API.
pub fn pod_from_template(
    template: &Value,
    owner: &Value,
    owner_res: &ResourceInfo,
    extra_labels: &[(&str, &str)],
    node_name: Option<&str>,
) -> Result<Value, ControllerError> {
    let mut meta = json!({
        "generateName": format!("{}-", name_of(owner)),
        "namespace": str_at(owner, "/metadata/namespace"),
        "labels": template.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
        "ownerReferences": [owner_reference(owner, owner_res)],
    });
    if let Some(a) = template
        .pointer("/metadata/annotations")
        .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
    {
        meta["annotations"] = a.clone();
    }
    for (k, v) in extra_labels {
        meta["labels"][*k] = json!(v);
    }
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(n) = node_name {
        spec["nodeName"] = json!(n);
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
    let build_err = |message: String| ControllerError::Build {
        what: format!("a pod for {} {}", owner_res.kind, name_of(owner)),
        message,
    };
    let (mut pod, _) = admission::normalize(&PODS, pod, FieldValidation::Ignore)
        .map_err(|e| build_err(e.message))?;
    admission::prepare_create(&PODS, &mut pod).map_err(|e| build_err(e.message))?;
    Ok(pod)
}

/// A template in the form used to compare templates: run through the same normalization
/// and pod defaults as a pod, with `pod-template-hash` dropped. Two templates are
/// semantically equal when these are equal (defaults filled in or not).
pub fn canonical_template(template: &Value) -> Value {
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(m) = labels.as_object_mut() {
        m.remove("pod-template-hash");
    }
    let annotations = template
        .pointer("/metadata/annotations")
        .cloned()
        .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()));
    let spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    let pod =
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "template"}, "spec": spec});
    let spec = match admission::normalize(&PODS, pod, FieldValidation::Ignore) {
        Ok((mut p, _)) => {
            let _ = admission::prepare_create(&PODS, &mut p);
            p.get("spec").cloned().unwrap_or_default()
        }
        Err(_) => template.get("spec").cloned().unwrap_or_default(),
    };
    json!({"labels": labels, "annotations": annotations, "spec": spec})
}

/// Kubernetes' alphabet for generated suffixes (no vowels, no confusable characters).
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A short, stable hash of a template (`pod-template-hash`, `controller-revision-hash`):
/// FNV-1a over the canonical template's JSON (and a collision count), in Kubernetes' safe
/// alphabet.
pub fn template_hash(template: &Value, collision_count: u32) -> String {
    let canon = canonical_template(template);
    let bytes = serde_json::to_vec(&canon).unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes.iter().chain(collision_count.to_le_bytes().iter()) {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut out = String::new();
    let mut x = h;
    loop {
        out.push(SAFE_ALPHABET[(x % SAFE_ALPHABET.len() as u32) as usize] as char);
        x /= SAFE_ALPHABET.len() as u32;
        if x == 0 {
            break;
        }
    }
    out
}

/// Resolves an `IntOrString` (`2` or `"25%"`) against `total`, rounding up or down.
pub fn int_or_percent(v: Option<&Value>, total: i64, round_up: bool, default: i64) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(default),
        Some(Value::String(s)) => match s
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<i64>().ok())
        {
            Some(p) => {
                let x = p * total;
                if round_up {
                    (x + 99) / 100
                } else {
                    x / 100
                }
            }
            None => s.parse().unwrap_or(default),
        },
        _ => default,
    }
}

/// Sets a condition of `type_` in `conds`, keeping `lastTransitionTime` when the status did
/// not change.
pub fn set_condition(
    conds: &mut Vec<Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) {
    if let Some(c) = conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
    {
        let changed = c.get("status").and_then(Value::as_str) != Some(status);
        let same_reason = c.get("reason").and_then(Value::as_str) == Some(reason);
        c["status"] = json!(status);
        c["reason"] = json!(reason);
        c["message"] = json!(message);
        if changed {
            c["lastTransitionTime"] = json!(now);
        }
        if changed || !same_reason {
            c["lastUpdateTime"] = json!(now);
        }
    } else {
        conds.push(json!({"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now, "lastUpdateTime": now}));
    }
}

/// Whether a controller may create objects in `ns`: it exists and is not terminating.
/// (Checked before each create; the namespace controller waits for a quiet period before
/// removing a namespace to cover the remaining race.)
pub fn namespace_open(store: &Store, ns: &str) -> bool {
    store
        .get(&crate::resources::NAMESPACES, "", ns)
        .is_some_and(|o| {
            let v = o.value();
            !is_deleting(&v) && str_at(&v, "/status/phase") != "Terminating"
        })
}

/// Looks a kind up among the served resources (for ownerReferences).
pub fn resource_for_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    crate::resources::ALL
        .iter()
        .copied()
        .find(|r| r.kind == kind && (api_version.is_empty() || r.api_version() == api_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::type_complexity)]
    fn label_selectors_convert() {
        let cases: &[(Value, &[(&str, &str)], Option<bool>)] = &[
            (json!(null), &[("a", "1")], None),
            (json!({}), &[("a", "1")], None),
            (
                json!({"matchLabels": {"a": "1"}}),
                &[("a", "1")],
                Some(true),
            ),
            (
                json!({"matchLabels": {"a": "1"}}),
                &[("a", "2")],
                Some(false),
            ),
            (
                json!({"matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]}]}),
                &[("t", "y")],
                Some(true),
            ),
            (
                json!({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x"]}]}),
                &[("t", "x")],
                Some(false),
            ),
            (
                json!({"matchExpressions": [{"key": "t", "operator": "Exists"}]}),
                &[("u", "x")],
                Some(false),
            ),
            (
                json!({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}),
                &[("u", "x")],
                Some(true),
            ),
        ];
        for (sel, labels, want) in cases {
            let s = selector_from_label_selector(Some(sel)).expect("valid");
            let m: BTreeMap<String, String> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(s.map(|s| s.matches_map(&m)), *want, "{sel}");
        }
        assert!(selector_from_label_selector(Some(
            &json!({"matchExpressions": [{"key": "t", "operator": "Near"}]})
        ))
        .is_err());
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            parse_time_ms("2024-02-29T12:00:00.250Z"),
            Some(1_709_208_000_250)
        );
        let now = 1_764_300_000_123;
        assert_eq!(
            parse_time_ms(&rfc3339(now)).map(|t| t / 1000),
            Some(now / 1000)
        );
        assert_eq!(parse_time_ms("yesterday"), None);
    }

    #[test]
    fn int_or_percent_rounds() {
        let cases: &[(Value, i64, bool, i64)] = &[
            (json!(2), 10, true, 2),
            (json!("25%"), 10, true, 3),
            (json!("25%"), 10, false, 2),
            (json!("100%"), 3, false, 3),
            (json!("0%"), 3, true, 0),
        ];
        for (v, total, up, want) in cases {
            assert_eq!(
                int_or_percent(Some(v), *total, *up, -1),
                *want,
                "{v} of {total}"
            );
        }
        assert_eq!(int_or_percent(None, 4, true, 1), 1);
    }

    #[test]
    fn templates_compare_after_defaults() {
        let bare = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}});
        let mut defaulted = bare.clone();
        defaulted["spec"]["restartPolicy"] = json!("Always");
        defaulted["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
        defaulted["metadata"]["labels"]["pod-template-hash"] = json!("abc");
        assert_eq!(canonical_template(&bare), canonical_template(&defaulted));
        assert_eq!(template_hash(&bare, 0), template_hash(&defaulted, 0));
        let mut changed = bare.clone();
        changed["spec"]["containers"][0]["image"] = json!("nginx:2");
        assert_ne!(template_hash(&bare, 0), template_hash(&changed, 0));
        assert_ne!(template_hash(&bare, 0), template_hash(&bare, 1));
    }

    #[test]
    fn pods_from_templates_carry_owner_and_defaults() {
        let owner = json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}});
        let t = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}});
        let p = pod_from_template(
            &t,
            &owner,
            &crate::resources::REPLICASETS,
            &[("pod-template-hash", "h")],
            Some("n1"),
        )
        .expect("pod");
        assert!(name_of(&p).starts_with("web-"));
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], "h");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        assert_eq!(p["spec"]["nodeName"], "n1");
        assert_eq!(controller_of(&p), Some(("ReplicaSet", "web", "u1")));
    }

    #[test]
    fn changes_to_a_just_synced_key_wait_for_its_interval() {
        let t0 = Instant::now();
        let a: Key = ("d".into(), "a".into());
        let b: Key = ("d".into(), "b".into());
        let mut q = WorkQueue::default();
        q.push_paced(a.clone(), t0);
        assert_eq!(q.pop(), Some(a.clone()), "never synced: at once");
        q.synced(&a, t0);
        q.push_paced(a.clone(), t0 + Duration::from_millis(10));
        q.push_paced(a.clone(), t0 + Duration::from_millis(20));
        q.push_paced(b.clone(), t0 + Duration::from_millis(20));
        assert_eq!(q.pop(), Some(b), "another key is not held back");
        assert_eq!(q.pop(), None, "a waits");
        assert_eq!(
            q.next_due(),
            Some(t0 + MIN_SYNC_INTERVAL),
            "once, at the end"
        );
        q.promote_due(t0 + MIN_SYNC_INTERVAL);
        assert_eq!(q.pop(), Some(a.clone()));
        assert_eq!(q.pop(), None, "the two changes made one sync");
        q.push_paced(a.clone(), t0 + MIN_SYNC_INTERVAL * 2);
        assert_eq!(q.pop(), Some(a), "after the interval: at once");
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), BACKOFF_MIN);
        assert!(backoff(3) > backoff(2));
        assert_eq!(backoff(40), BACKOFF_MAX);
    }
}
