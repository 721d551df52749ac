//! The hub's object store: every Kubernetes object the hub knows, with one global revision,
//! optimistic concurrency and a bounded, resumable watch history, on fjall.
//!
//! Data flow:
//! - **Writes** go through a bounded channel to one writer thread. It takes every queued
//!   write (group commit), checks each against the current state (existence, stale
//!   `resourceVersion`), gives each a new revision, commits them to fjall in one batch with
//!   fsync, and only then publishes them to readers and answers the callers. So an
//!   acknowledged write is durable, and fjall's blocking calls never run on async threads.
//! - **Reads** (get, list) are served from an in-memory index of the committed state.
//! - **Watches** read the in-memory history ring by revision and wait on a revision signal;
//!   a watcher that falls behind the ring gets [`StoreError::Expired`] (HTTP 410), so a slow
//!   watcher costs no memory.

mod disk;
pub mod object;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

pub use disk::DiskError;
use disk::{Disk, DiskBatch};
pub use object::{list_prefix, object_key, EventType, StoredObject, WatchEvent};

use crate::resources::ResourceInfo;

/// How many changes the store keeps by default for watches to resume from (in memory and on
/// disk).
pub const HISTORY_LEN: usize = 50_000;
/// Most bytes of object JSON the in-memory watch history holds (besides [`HISTORY_LEN`]).
///
/// Design: the history keeps every version a watch may resume from, and the versions it
/// keeps alive are mostly ones the current state no longer shares (a pod's create, bind and
/// status writes are three versions). At fleet scale 50,000 entries of 2-3 KB pods are
/// 100-150 MB; 64 MiB still covers tens of thousands of recent changes, and a watch that
/// falls further behind gets 410 and relists, as with Kubernetes' watch cache.
pub const HISTORY_BYTES: usize = 64 * 1024 * 1024;
/// Writes waiting for the writer thread, per lane; callers wait (back-pressure) beyond this.
const WRITE_QUEUE: usize = 4096;
/// Most writes folded into one fsync.
const MAX_GROUP: usize = 512;
/// Most bulk-lane writes in one group: bounds how long a group takes, and so how long an
/// API write that arrives while it commits waits.
const MAX_BULK_GROUP: usize = 256;

/// Which of the writer's two queues a [`Store`] handle writes through.
///
/// Design: API clients' writes (kubectl, operators, the Python client) must not wait behind
/// the fleet's bulk traffic: a DaemonSet rollout or a 10,000-replica Deployment queues
/// thousands of binds, pod creates and status writes, and in one FIFO a ConfigMap update
/// waited for all of them (p99 over 200 ms). The writer drains the API lane first, and bulk
/// groups are capped ([`MAX_BULK_GROUP`]), so an API write waits for at most the group being
/// committed, then for its own group (API writes are committed apart from bulk ones).
/// Order is kept per handle lane, which is all callers rely on: each component
/// writes through one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Writes of API requests (the default).
    Api,
    /// Writes of the hub's own components: scheduler, controllers, status ingest, node
    /// sessions, garbage collectors.
    Bulk,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{resource} \"{name}\" already exists")]
    AlreadyExists { resource: String, name: String },
    #[error("{resource} \"{name}\" not found")]
    NotFound { resource: String, name: String },
    #[error(
        "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { resource: String, name: String },
    #[error("too old resource version: {requested} (oldest available {oldest})")]
    Expired { requested: u64, oldest: u64 },
    #[error("{0}")]
    Invalid(String),
    #[error("the store is shutting down")]
    Closed,
    #[error(transparent)]
    Disk(#[from] DiskError),
}

/// A write, as queued for the writer thread.
enum Op {
    Create {
        res: &'static ResourceInfo,
        namespace: String,
        value: Value,
    },
    Update {
        res: &'static ResourceInfo,
        namespace: String,
        name: String,
        value: Value,
    },
    Delete {
        res: &'static ResourceInfo,
        namespace: String,
        name: String,
        precondition_rv: Option<u64>,
    },
    Mutate {
        res: &'static ResourceInfo,
        namespace: String,
        name: String,
        f: MutateFn,
    },
}

/// Read-modify-write run on the writer thread against the latest state: return `Ok(None)`
/// to leave the object unchanged (no new revision is written).
pub type MutateFn = Box<dyn FnOnce(&Value) -> Result<Option<Value>, StoreError> + Send>;

struct Queued {
    op: Op,
    reply: oneshot::Sender<Result<Arc<StoredObject>, StoreError>>,
}

/// Committed state visible to readers.
struct State {
    objects: BTreeMap<String, Arc<StoredObject>>,
    revision: u64,
    history: VecDeque<WatchEvent>,
    /// Bytes of object JSON in `history`.
    history_bytes: usize,
}

impl State {
    /// Appends a change and drops the oldest ones beyond `max_len` changes or
    /// `max_bytes` of JSON (always keeping the newest).
    fn push_history(&mut self, ev: WatchEvent, max_len: usize, max_bytes: usize) {
        self.history_bytes += ev.object.json.len();
        self.history.push_back(ev);
        while self.history.len() > max_len
            || (self.history_bytes > max_bytes && self.history.len() > 1)
        {
            match self.history.pop_front() {
                Some(old) => self.history_bytes -= old.object.json.len(),
                None => break,
            }
        }
    }
}

/// Shared between handles and the writer thread. Design: the writer does not hold the write
/// channel's sender, so when the last [`Store`] handle is dropped the channel closes and the
/// writer persists and exits, releasing the directory.
struct Inner {
    state: RwLock<State>,
    revision_tx: watch::Sender<u64>,
    history_len: usize,
    history_bytes: usize,
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    api: mpsc::Sender<Queued>,
    bulk: mpsc::Sender<Queued>,
    lane: Lane,
}

/// A list result: the objects and the revision they are consistent with.
pub struct ListResult {
    pub items: Vec<Arc<StoredObject>>,
    pub revision: u64,
}

impl Store {
    /// Opens (or creates) the store under `dir` and starts its writer thread. Blocking: call
    /// it before the async runtime starts or from `spawn_blocking`.
    pub fn open(
        dir: &Path,
        resources: &'static [&'static ResourceInfo],
    ) -> Result<Store, StoreError> {
        Self::open_with_history(dir, resources, HISTORY_LEN)
    }

    /// [`Store::open`] keeping at most `history_len` changes for watches (at least 1).
    pub fn open_with_history(
        dir: &Path,
        resources: &'static [&'static ResourceInfo],
        history_len: usize,
    ) -> Result<Store, StoreError> {
        Self::open_with_limits(dir, resources, history_len, HISTORY_BYTES)
    }

    /// [`Store::open`] keeping at most `history_len` changes (at least 1) and
    /// `history_bytes` of their JSON in memory for watches.
    pub fn open_with_limits(
        dir: &Path,
        resources: &'static [&'static ResourceInfo],
        history_len: usize,
        history_bytes: usize,
    ) -> Result<Store, StoreError> {
        let history_len = history_len.max(1);
        let disk = Disk::open(dir)?;
        let revision = disk.revision()?;
        let field_paths = |key: &str| -> &'static [&'static str] {
            let prefix = key.split('/').next().unwrap_or_default();
            resources
                .iter()
                .find(|r| r.key_prefix == prefix)
                .map(|r| r.field_paths)
                .unwrap_or(&[])
        };
        let mut objects = BTreeMap::new();
        for (key, rev, json) in disk.load_objects()? {
            let value: Value = serde_json::from_slice(&json).map_err(|_| DiskError::Corrupt {
                key: key.clone(),
                what: "object is not JSON",
            })?;
            let fp = field_paths(&key);
            objects.insert(
                key.clone(),
                Arc::new(StoredObject::from_parts(key, rev, json, &value, fp)),
            );
        }
        let mut history = VecDeque::with_capacity(history_len.min(HISTORY_LEN));
        for rec in disk.load_history(history_len)? {
            let value: Value = serde_json::from_slice(&rec.json).unwrap_or(Value::Null);
            let fp = field_paths(&rec.key);
            let object = Arc::new(StoredObject::from_parts(
                rec.key,
                rec.revision,
                rec.json,
                &value,
                fp,
            ));
            history.push_back(WatchEvent {
                revision: rec.revision,
                event_type: rec.event_type,
                object,
                previous: None,
            });
        }
        // History must be contiguous up to `revision` for resumption by index; keep only the
        // contiguous tail.
        while let Some(front) = history.front() {
            let expected_first = revision + 1 - history.len() as u64;
            if front.revision == expected_first {
                break;
            }
            history.pop_front();
        }
        // The disk's history starts where the loaded one does; the memory's may start later
        // (its byte bound), so the writer keeps the disk's first revision itself.
        let disk_history_first = history.front().map(|e| e.revision);
        let mut state = State {
            objects,
            revision,
            history: VecDeque::with_capacity(history.len()),
            history_bytes: 0,
        };
        for ev in history {
            state.push_history(ev, history_len, history_bytes);
        }
        let (revision_tx, _) = watch::channel(revision);
        let (api_tx, api_rx) = mpsc::channel(WRITE_QUEUE);
        let (bulk_tx, bulk_rx) = mpsc::channel(WRITE_QUEUE);
        let inner = Arc::new(Inner {
            state: RwLock::new(state),
            revision_tx,
            history_len,
            history_bytes,
        });
        let writer_inner = inner.clone();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(disk, writer_inner, disk_history_first, api_rx, bulk_rx))
            .map_err(|e| {
                StoreError::Invalid(format!("cannot start the store writer thread: {e}"))
            })?;
        Ok(Store {
            inner,
            api: api_tx,
            bulk: bulk_tx,
            lane: Lane::Api,
        })
    }

    /// This handle writing through `lane` (see [`Lane`]).
    pub fn with_lane(&self, lane: Lane) -> Store {
        Store {
            lane,
            ..self.clone()
        }
    }

    /// The queue this handle's writes go to.
    fn writes(&self) -> &mpsc::Sender<Queued> {
        match self.lane {
            Lane::Api => &self.api,
            Lane::Bulk => &self.bulk,
        }
    }

    /// The latest committed revision.
    pub fn revision(&self) -> u64 {
        self.read().revision
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(
        &self,
        res: &ResourceInfo,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<StoredObject>> {
        self.read()
            .objects
            .get(&object_key(res.key_prefix, namespace, name))
            .cloned()
    }

    /// Objects of `res` (in `namespace`, or all) that pass `filter`, in key order, starting
    /// after `continue_after` and at most `limit` (0 = no limit).
    pub fn list(
        &self,
        res: &ResourceInfo,
        namespace: Option<&str>,
        filter: &dyn Fn(&StoredObject) -> bool,
        continue_after: Option<&str>,
        limit: usize,
    ) -> ListResult {
        let prefix = list_prefix(res.key_prefix, namespace);
        let state = self.read();
        let start = match continue_after {
            Some(k) if k.starts_with(&prefix) => Bound::Excluded(k.to_string()),
            _ => Bound::Included(prefix.clone()),
        };
        let mut items = Vec::new();
        for (k, o) in state.objects.range((start, Bound::Unbounded)) {
            if !k.starts_with(&prefix) {
                break;
            }
            if filter(o) {
                items.push(o.clone());
                if limit > 0 && items.len() > limit {
                    break;
                }
            }
        }
        ListResult {
            items,
            revision: state.revision,
        }
    }

    /// Changes after `after_revision`, up to `max` of them. `Err(Expired)` when the history no
    /// longer reaches back that far.
    pub fn events_after(
        &self,
        after_revision: u64,
        max: usize,
    ) -> Result<Vec<WatchEvent>, StoreError> {
        let state = self.read();
        if after_revision >= state.revision {
            return Ok(Vec::new());
        }
        let first = state
            .history
            .front()
            .map(|e| e.revision)
            .unwrap_or(state.revision + 1);
        if after_revision + 1 < first {
            return Err(StoreError::Expired {
                requested: after_revision,
                oldest: first.saturating_sub(1),
            });
        }
        let skip = (after_revision + 1 - first) as usize;
        Ok(state.history.iter().skip(skip).take(max).cloned().collect())
    }

    /// A receiver that changes whenever a new revision is committed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.revision_tx.subscribe()
    }

    pub async fn create(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        value: Value,
    ) -> Result<Arc<StoredObject>, StoreError> {
        self.submit(Op::Create {
            res,
            namespace: namespace.to_string(),
            value,
        })
        .await
    }

    /// Replaces the object. If `value.metadata.resourceVersion` is set it must match the
    /// stored one (else [`StoreError::Conflict`]).
    pub async fn update(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        value: Value,
    ) -> Result<Arc<StoredObject>, StoreError> {
        self.submit(Op::Update {
            res,
            namespace: namespace.to_string(),
            name: name.to_string(),
            value,
        })
        .await
    }

    pub async fn delete(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        precondition_rv: Option<u64>,
    ) -> Result<Arc<StoredObject>, StoreError> {
        self.submit(Op::Delete {
            res,
            namespace: namespace.to_string(),
            name: name.to_string(),
            precondition_rv,
        })
        .await
    }

    /// Atomic read-modify-write against the latest state, without conflicts.
    pub async fn mutate(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        f: MutateFn,
    ) -> Result<Arc<StoredObject>, StoreError> {
        self.submit(Op::Mutate {
            res,
            namespace: namespace.to_string(),
            name: name.to_string(),
            f,
        })
        .await
    }

    /// [`Store::mutate`] in two steps: the returned future resolves once the write is
    /// *queued* (in call order, waiting only while the write queue is full), and yields a
    /// [`PendingWrite`] that resolves when it is committed. A caller that awaits the queueing
    /// of each write before the next keeps its writes in order while many are in flight, so
    /// they share group commits instead of paying one fsync each.
    pub async fn enqueue_mutate(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        name: &str,
        f: MutateFn,
    ) -> Result<PendingWrite, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op = Op::Mutate {
            res,
            namespace: namespace.to_string(),
            name: name.to_string(),
            f,
        };
        self.writes()
            .send(Queued { op, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(PendingWrite(rx))
    }

    /// [`Store::create`] in two steps, like [`Store::enqueue_mutate`]: queued in call order
    /// (so a later `enqueue_mutate` of the same object finds it), committed later.
    pub async fn enqueue_create(
        &self,
        res: &'static ResourceInfo,
        namespace: &str,
        value: Value,
    ) -> Result<PendingWrite, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op = Op::Create {
            res,
            namespace: namespace.to_string(),
            value,
        };
        self.writes()
            .send(Queued { op, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(PendingWrite(rx))
    }

    async fn submit(&self, op: Op) -> Result<Arc<StoredObject>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.writes()
            .send(Queued { op, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// A queued write ([`Store::enqueue_mutate`]); resolves with its result once committed.
pub struct PendingWrite(oneshot::Receiver<Result<Arc<StoredObject>, StoreError>>);

impl std::future::Future for PendingWrite {
    type Output = Result<Arc<StoredObject>, StoreError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(StoreError::Closed)))
    }
}

/// The writer thread: group commit until every `Store` handle is gone. A group takes every
/// waiting API write, or else bulk writes up to [`MAX_BULK_GROUP`] (see [`Lane`]).
fn writer_loop(
    disk: Disk,
    inner: Arc<Inner>,
    mut disk_history_first: Option<u64>,
    mut api: mpsc::Receiver<Queued>,
    mut bulk: mpsc::Receiver<Queued>,
) {
    // Only to wait on two queues at once; the thread blocks on the disk otherwise.
    let waiter = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the store writer; writes will fail");
            return;
        }
    };
    loop {
        let first = waiter.block_on(async {
            tokio::select! {
                biased;
                Some(q) = api.recv() => Some((q, Lane::Api)),
                Some(q) = bulk.recv() => Some((q, Lane::Bulk)),
                else => None,
            }
        });
        let Some((first, lane)) = first else { break };
        let mut bulk_taken = usize::from(lane == Lane::Bulk);
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match api.try_recv() {
                Ok(q) => group.push(q),
                Err(_) => break,
            }
        }
        // A group with API writes commits them alone: its fsync is all they wait for.
        let api_taken = group.len() - bulk_taken;
        while api_taken == 0 && group.len() < MAX_GROUP && bulk_taken < MAX_BULK_GROUP {
            match bulk.try_recv() {
                Ok(q) => {
                    group.push(q);
                    bulk_taken += 1;
                }
                Err(_) => break,
            }
        }
        commit_group(&disk, &inner, &mut disk_history_first, group);
    }
    if let Err(e) = disk.persist() {
        tracing::error!(error = %e, "final store persist failed");
    }
}

/// Applies and commits one group. `disk_history_first` is the first revision of the disk's
/// history (advanced as the window moves).
fn commit_group(
    disk: &Disk,
    inner: &Inner,
    disk_history_first: &mut Option<u64>,
    group: Vec<Queued>,
) {
    let base_revision = inner
        .state
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .revision;
    let mut next = base_revision;
    // Staged view: later writes in the same group see earlier ones.
    let mut staged: HashMap<String, Option<Arc<StoredObject>>> = HashMap::new();
    let mut events: Vec<WatchEvent> = Vec::new();
    let mut replies: Vec<(Reply, Result<Arc<StoredObject>, StoreError>)> =
        Vec::with_capacity(group.len());
    let mut batch = DiskBatch::default();
    {
        let state = inner.state.read().unwrap_or_else(|p| p.into_inner());
        let current = |staged: &HashMap<String, Option<Arc<StoredObject>>>,
                       key: &str|
         -> Option<Arc<StoredObject>> {
            match staged.get(key) {
                Some(v) => v.clone(),
                None => state.objects.get(key).cloned(),
            }
        };
        for q in group {
            let result = apply_op(q.op, next + 1, &|k| current(&staged, k));
            match result {
                Ok(Applied::Changed(ev)) => {
                    next += 1;
                    let key = ev.object.key.clone();
                    match ev.event_type {
                        EventType::Deleted => {
                            batch.deletes.push(key.clone());
                            batch.puts.retain(|(k, _, _)| k != &key);
                            staged.insert(key.clone(), None);
                        }
                        _ => {
                            batch.deletes.retain(|k| k != &key);
                            batch
                                .puts
                                .push((key.clone(), ev.revision, ev.object.json.clone()));
                            staged.insert(key.clone(), Some(ev.object.clone()));
                        }
                    }
                    batch
                        .history
                        .push((ev.revision, ev.event_type, key, ev.object.json.clone()));
                    replies.push((q.reply, Ok(ev.object.clone())));
                    events.push(ev);
                }
                Ok(Applied::Unchanged(object)) => replies.push((q.reply, Ok(object))),
                Err(e) => replies.push((q.reply, Err(e))),
            }
        }
    }
    if events.is_empty() {
        send_replies(replies);
        return;
    }
    batch.revision = next;
    let keep_from = (next + 1).saturating_sub(inner.history_len as u64);
    batch.history_drop_from = disk_history_first.unwrap_or(keep_from).min(keep_from);
    batch.history_drop_below = keep_from;
    if let Err(e) = disk.commit(&batch) {
        tracing::error!(error = %e, "store commit failed; rejecting the writes of this group");
        let msg = e.to_string();
        for (reply, r) in replies {
            let _ = reply.send(r.and(Err(StoreError::Invalid(format!(
                "store write failed: {msg}"
            )))));
        }
        return;
    }
    *disk_history_first = Some(disk_history_first.unwrap_or(keep_from).max(keep_from));
    {
        let mut state = inner.state.write().unwrap_or_else(|p| p.into_inner());
        for ev in &events {
            match ev.event_type {
                EventType::Deleted => {
                    state.objects.remove(&ev.object.key);
                }
                _ => {
                    state
                        .objects
                        .insert(ev.object.key.clone(), ev.object.clone());
                }
            }
        }
        for ev in events {
            state.push_history(ev, inner.history_len, inner.history_bytes);
        }
        state.revision = next;
    }
    inner.revision_tx.send_replace(next);
    send_replies(replies);
}

type Reply = oneshot::Sender<Result<Arc<StoredObject>, StoreError>>;

fn send_replies(replies: Vec<(Reply, Result<Arc<StoredObject>, StoreError>)>) {
    for (reply, r) in replies {
        let _ = reply.send(r);
    }
}

enum Applied {
    Changed(WatchEvent),
    /// A mutate that changed nothing: no revision is written.
    Unchanged(Arc<StoredObject>),
}

/// Applies one write to the staged state; `Ok(None)` when it changes nothing.
fn apply_op(
    op: Op,
    revision: u64,
    current: &dyn Fn(&str) -> Option<Arc<StoredObject>>,
) -> Result<Applied, StoreError> {
    match op {
        Op::Create {
            res,
            namespace,
            mut value,
        } => {
            let name = meta_str(&value, "name")
                .ok_or_else(|| StoreError::Invalid("metadata.name is required".into()))?;
            let key = object_key(res.key_prefix, &namespace, &name);
            if current(&key).is_some() {
                return Err(StoreError::AlreadyExists {
                    resource: res.resource_name(),
                    name,
                });
            }
            set_create_meta(&mut value, res, &namespace, revision);
            let object = Arc::new(StoredObject::from_value(
                key,
                revision,
                &value,
                res.field_paths,
            ));
            Ok(Applied::Changed(WatchEvent {
                revision,
                event_type: EventType::Added,
                object,
                previous: None,
            }))
        }
        Op::Update {
            res,
            namespace,
            name,
            value,
        } => {
            let key = object_key(res.key_prefix, &namespace, &name);
            let old = current(&key).ok_or_else(|| StoreError::NotFound {
                resource: res.resource_name(),
                name: name.clone(),
            })?;
            if let Some(rv) = meta_str(&value, "resourceVersion").filter(|s| !s.is_empty()) {
                if rv.parse::<u64>().ok() != Some(old.revision) {
                    return Err(StoreError::Conflict {
                        resource: res.resource_name(),
                        name,
                    });
                }
            }
            let old_value = old.value();
            if let Some(uid) = meta_str(&value, "uid").filter(|s| !s.is_empty()) {
                if Some(uid.as_str()) != old_value.pointer("/metadata/uid").and_then(Value::as_str)
                {
                    return Err(StoreError::Conflict {
                        resource: res.resource_name(),
                        name,
                    });
                }
            }
            Ok(modified(res, key, revision, value, &old_value, old))
        }
        Op::Mutate {
            res,
            namespace,
            name,
            f,
        } => {
            let key = object_key(res.key_prefix, &namespace, &name);
            let old = current(&key).ok_or_else(|| StoreError::NotFound {
                resource: res.resource_name(),
                name: name.clone(),
            })?;
            let old_value = old.value();
            let Some(value) = f(&old_value)? else {
                return Ok(Applied::Unchanged(old));
            };
            if value == old_value {
                return Ok(Applied::Unchanged(old));
            }
            Ok(modified(res, key, revision, value, &old_value, old))
        }
        Op::Delete {
            res,
            namespace,
            name,
            precondition_rv,
        } => {
            let key = object_key(res.key_prefix, &namespace, &name);
            let old = current(&key).ok_or_else(|| StoreError::NotFound {
                resource: res.resource_name(),
                name: name.clone(),
            })?;
            if let Some(rv) = precondition_rv {
                if rv != old.revision {
                    return Err(StoreError::Conflict {
                        resource: res.resource_name(),
                        name,
                    });
                }
            }
            let mut value = old.value();
            if let Some(m) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert(
                    "resourceVersion".into(),
                    Value::String(revision.to_string()),
                );
            }
            let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
            let object = Arc::new(StoredObject::from_parts(
                key,
                revision,
                json,
                &value,
                res.field_paths,
            ));
            Ok(Applied::Changed(WatchEvent {
                revision,
                event_type: EventType::Deleted,
                object,
                previous: Some(old),
            }))
        }
    }
}

/// The change for an update of `old` (whose value is `old_value`) to `value`.
fn modified(
    res: &ResourceInfo,
    key: String,
    revision: u64,
    mut value: Value,
    old_value: &Value,
    old: Arc<StoredObject>,
) -> Applied {
    set_update_meta(&mut value, old_value, revision);
    let object = Arc::new(StoredObject::from_value(
        key,
        revision,
        &value,
        res.field_paths,
    ));
    Applied::Changed(WatchEvent {
        revision,
        event_type: EventType::Modified,
        object,
        previous: Some(old),
    })
}

fn meta_str(v: &Value, field: &str) -> Option<String> {
    v.get("metadata")?.get(field)?.as_str().map(str::to_string)
}

fn now_rfc3339() -> String {
    shoal_transport::status::rfc3339_from_ms(shoal_transport::status::now_ms())
}

fn set_create_meta(value: &mut Value, res: &ResourceInfo, namespace: &str, revision: u64) {
    if !value.get("metadata").is_some_and(Value::is_object) {
        value["metadata"] = Value::Object(Default::default());
    }
    let has_spec = value.get("spec").is_some();
    let m = value["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object");
    if res.namespaced {
        m.insert("namespace".into(), Value::String(namespace.to_string()));
    } else {
        m.remove("namespace");
    }
    // The API strips client-sent uids; one present here was chosen by the hub (a Job's
    // selector names its own uid).
    if !m
        .get("uid")
        .and_then(Value::as_str)
        .is_some_and(|u| !u.is_empty())
    {
        m.insert(
            "uid".into(),
            Value::String(uuid::Uuid::new_v4().to_string()),
        );
    }
    m.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
    m.insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
    if has_spec {
        m.insert("generation".into(), Value::from(1));
    }
}

/// Keeps identity fields from the stored version, stamps the revision, and bumps
/// `generation` only when something outside `metadata` and `status` changed.
fn set_update_meta(value: &mut Value, old: &Value, revision: u64) {
    if !value.get("metadata").is_some_and(Value::is_object) {
        value["metadata"] = Value::Object(Default::default());
    }
    let spec_changed = {
        let strip = |v: &Value| -> Value {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("metadata");
                o.remove("status");
            }
            v
        };
        strip(value) != strip(old)
    };
    let old_meta = old.get("metadata").cloned().unwrap_or_default();
    let m = value["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object");
    for field in ["uid", "creationTimestamp", "namespace", "name"] {
        match old_meta.get(field) {
            Some(v) => {
                m.insert(field.into(), v.clone());
            }
            None => {
                m.remove(field);
            }
        }
    }
    if let Some(g) = old_meta.get("generation").and_then(Value::as_i64) {
        m.insert(
            "generation".into(),
            Value::from(if spec_changed { g + 1 } else { g }),
        );
    }
    m.insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
}

#[cfg(test)]
mod tests;
