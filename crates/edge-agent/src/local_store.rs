//! The agent's durable memory of what it should run: desired [`PodPlan`]s by UID and the last
//! revision it acknowledged to the hub, in fjall under `DIR/state`.
//!
//! This is what makes the agent offline first: at start it loads the plans from here and starts
//! its pods before (and without) reaching the hub, and after a reconnect it tells the hub the
//! revision it has so the hub can resume with a delta.
//!
//! Layout (fjall 3):
//! - keyspace `pods`: key = pod UID (UTF-8), value = [`FORMAT_VERSION`] byte + bincode 2 (serde,
//!   standard config) of the [`PodPlan`];
//! - keyspace `meta`: `revision` = u64 big-endian;
//! - keyspace `services`: key = `namespace/name`, value = [`FORMAT_VERSION`] byte + bincode of
//!   the `ServicePlan` (replaced whole by a full `Services` message).
//!
//! Every [`DesiredWrite`] is one batch committed with `PersistMode::SyncAll`, so plans and
//! revision change together and are on disk before the agent acks. All calls block; async code
//! uses [`LocalStore::open_async`], [`LocalStore::load_async`] and [`LocalStore::write_async`],
//! which run them on tokio's blocking pool, never on an async thread.
//!
//! [`LocalStore::in_memory`] keeps the same data in a map instead, for hollow agents of the
//! simulator (`shoal-sim`): thousands of agents in one process cannot each own a fjall database
//! (its caches, journal and background threads), and a simulated device has no power to lose.
//! A memory store survives an agent restart inside one process (the simulator keeps the handle
//! across a flapping link) but not the process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use shoal_transport::wire::{PodPlan, ServicePlan};

use crate::desired::{DesiredSet, DesiredWrite};
use crate::services::{ServiceSet, ServicesWrite};

/// Version byte in front of every stored plan; a store written by an incompatible build is
/// refused with [`StoreError::Format`] instead of being misread.
pub const FORMAT_VERSION: u8 = 2;

/// Largest stored plan the decoder will allocate for (a corrupt length cannot exhaust memory).
pub const MAX_PLAN_BYTES: usize = 4 * 1024 * 1024;

const PODS_KEYSPACE: &str = "pods";
const META_KEYSPACE: &str = "meta";
const SERVICES_KEYSPACE: &str = "services";
const REVISION_KEY: &str = "revision";

/// Errors of the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening the agent's local store at {path} failed (is another agent using this --data-dir?)")]
    Open {
        path: PathBuf,
        #[source]
        source: fjall::Error,
    },
    #[error("local store: {op} failed")]
    Io {
        op: &'static str,
        #[source]
        source: fjall::Error,
    },
    #[error("local store: encoding the plan of pod {uid} failed")]
    Encode {
        uid: String,
        #[source]
        source: bincode::error::EncodeError,
    },
    #[error("local store: the plan stored for pod {uid} does not decode; remove {path} to resync from the hub")]
    Decode {
        uid: String,
        path: PathBuf,
        #[source]
        source: bincode::error::DecodeError,
    },
    #[error("local store: {what} at {path} has format {found}, this agent reads format {FORMAT_VERSION}; remove {path} to resync from the hub")]
    Format {
        what: String,
        path: PathBuf,
        found: String,
    },
    #[error("local store: a blocking task did not complete")]
    Join {
        #[source]
        source: tokio::task::JoinError,
    },
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_PLAN_BYTES>()
}

/// Handle to the open store. Cheap to clone (fjall handles are reference counted); the
/// database closes when the last clone is dropped.
#[derive(Clone)]
pub struct LocalStore {
    path: PathBuf,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Disk {
        db: Database,
        pods: Keyspace,
        meta: Keyspace,
        /// key = `namespace/name`, value = [`FORMAT_VERSION`] + bincode of the `ServicePlan`.
        services: Keyspace,
    },
    /// Plans by UID and the revision, and the Services; see the module docs.
    Memory(
        Arc<Mutex<(u64, BTreeMap<String, PodPlan>)>>,
        Arc<Mutex<ServiceSet>>,
    ),
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("path", &self.path)
            .finish()
    }
}

impl LocalStore {
    /// Opens (or creates) the store at `path`. Blocks.
    pub fn open(path: &Path) -> Result<LocalStore, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let db = Database::builder(path).open().map_err(open_err)?;
        let pods = db
            .keyspace(PODS_KEYSPACE, KeyspaceCreateOptions::default)
            .map_err(open_err)?;
        let meta = db
            .keyspace(META_KEYSPACE, KeyspaceCreateOptions::default)
            .map_err(open_err)?;
        let services = db
            .keyspace(SERVICES_KEYSPACE, KeyspaceCreateOptions::default)
            .map_err(open_err)?;
        Ok(LocalStore {
            path: path.to_path_buf(),
            backend: Backend::Disk {
                db,
                pods,
                meta,
                services,
            },
        })
    }

    /// An empty store kept in memory only (hollow agents; see the module docs). Its `path` is
    /// `memory:<label>`, for logs.
    pub fn in_memory(label: &str) -> LocalStore {
        LocalStore {
            path: PathBuf::from(format!("memory:{label}")),
            backend: Backend::Memory(
                Arc::new(Mutex::new((0, BTreeMap::new()))),
                Arc::new(Mutex::new(ServiceSet::default())),
            ),
        }
    }

    /// Whether this store lives in memory only.
    pub fn is_memory(&self) -> bool {
        matches!(self.backend, Backend::Memory(..))
    }

    /// [`LocalStore::open`] on the blocking pool.
    pub async fn open_async(path: PathBuf) -> Result<LocalStore, StoreError> {
        tokio::task::spawn_blocking(move || LocalStore::open(&path))
            .await
            .map_err(|source| StoreError::Join { source })?
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The persisted desired set. Blocks.
    pub fn load(&self) -> Result<DesiredSet, StoreError> {
        let (pods, meta) = match &self.backend {
            Backend::Disk { pods, meta, .. } => (pods, meta),
            Backend::Memory(m, _) => {
                let m = m.lock().unwrap_or_else(|p| p.into_inner());
                return Ok(DesiredSet::from_parts(
                    m.0,
                    m.1.values().cloned().collect::<Vec<_>>(),
                ));
            }
        };
        let revision = match meta.get(REVISION_KEY).map_err(|source| StoreError::Io {
            op: "reading the revision",
            source,
        })? {
            None => 0,
            Some(bytes) => {
                let arr: [u8; 8] = bytes.as_ref().try_into().map_err(|_| StoreError::Format {
                    what: "the revision".into(),
                    path: self.path.clone(),
                    found: format!("{} bytes instead of 8", bytes.len()),
                })?;
                u64::from_be_bytes(arr)
            }
        };
        let plans = self.decode_all::<PodPlan>(pods, "reading the pod plans", |uid| {
            format!("the plan of pod {uid}")
        })?;
        Ok(DesiredSet::from_parts(revision, plans))
    }

    /// [`LocalStore::load`] on the blocking pool.
    pub async fn load_async(&self) -> Result<DesiredSet, StoreError> {
        if self.is_memory() {
            return self.load();
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.load())
            .await
            .map_err(|source| StoreError::Join { source })?
    }

    /// Persists one write as a single durable batch (fsync before returning). Blocks.
    pub fn write(&self, write: &DesiredWrite) -> Result<(), StoreError> {
        let (db, pods, meta) = match &self.backend {
            Backend::Disk { db, pods, meta, .. } => (db, pods, meta),
            Backend::Memory(m, _) => {
                let mut m = m.lock().unwrap_or_else(|p| p.into_inner());
                for uid in &write.removes {
                    m.1.remove(uid);
                }
                for plan in &write.puts {
                    m.1.insert(plan.uid.clone(), plan.clone());
                }
                m.0 = write.revision;
                return Ok(());
            }
        };
        let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
        for uid in &write.removes {
            batch.remove(pods, uid.as_bytes());
        }
        for plan in &write.puts {
            batch.insert(pods, plan.uid.as_bytes(), encode_plan(plan)?);
        }
        batch.insert(meta, REVISION_KEY, write.revision.to_be_bytes());
        batch.commit().map_err(|source| StoreError::Io {
            op: "committing desired pods",
            source,
        })
    }

    /// [`LocalStore::write`] on the blocking pool; hands the write back for
    /// [`DesiredSet::commit`].
    pub async fn write_async(&self, write: DesiredWrite) -> Result<DesiredWrite, StoreError> {
        if self.is_memory() {
            // Design: a map insert does not block; no trip through the blocking pool.
            return self.write(&write).map(|()| write);
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write(&write).map(|()| write))
            .await
            .map_err(|source| StoreError::Join { source })?
    }

    /// The persisted Services. Blocks.
    pub fn load_services(&self) -> Result<ServiceSet, StoreError> {
        let services = match &self.backend {
            Backend::Disk { services, .. } => services,
            Backend::Memory(_, set) => {
                return Ok(set.lock().unwrap_or_else(|p| p.into_inner()).clone())
            }
        };
        let plans = self.decode_all::<ServicePlan>(services, "reading the services", |key| {
            format!("the entry {key}")
        })?;
        Ok(ServiceSet::from_plans(plans))
    }

    /// [`LocalStore::load_services`] on the blocking pool.
    pub async fn load_services_async(&self) -> Result<ServiceSet, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.load_services())
            .await
            .map_err(|source| StoreError::Join { source })?
    }

    /// Persists one change of the Services as a single durable batch. Blocks.
    pub fn write_services(&self, write: &ServicesWrite) -> Result<(), StoreError> {
        let (db, services) = match &self.backend {
            Backend::Disk { db, services, .. } => (db, services),
            Backend::Memory(_, set) => {
                set.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .commit(write.clone());
                return Ok(());
            }
        };
        let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
        if write.replace_all {
            for kv in services.iter() {
                let key = kv.key().map_err(|source| StoreError::Io {
                    op: "reading the services",
                    source,
                })?;
                batch.remove(services, key);
            }
        }
        for k in &write.removes {
            batch.remove(services, k.as_bytes());
        }
        for plan in &write.puts {
            let k = crate::services::key(plan);
            let mut value = vec![FORMAT_VERSION];
            let payload =
                bincode::serde::encode_to_vec(plan, bincode_config()).map_err(|source| {
                    StoreError::Encode {
                        uid: k.clone(),
                        source,
                    }
                })?;
            value.extend_from_slice(&payload);
            batch.insert(services, k.as_bytes(), value);
        }
        batch.commit().map_err(|source| StoreError::Io {
            op: "committing services",
            source,
        })
    }

    /// [`LocalStore::write_services`] on the blocking pool; hands the write back.
    pub async fn write_services_async(
        &self,
        write: ServicesWrite,
    ) -> Result<ServicesWrite, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_services(&write).map(|()| write))
            .await
            .map_err(|source| StoreError::Join { source })?
    }

    /// Decodes every entry of `entries` ([`Self::decode_versioned`]); `what` names an entry
    /// by its key in errors, `op` names the read.
    fn decode_all<T: serde::de::DeserializeOwned>(
        &self,
        entries: &Keyspace,
        op: &'static str,
        what: impl Fn(&str) -> String,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for kv in entries.iter() {
            let (key, value) = kv
                .into_inner()
                .map_err(|source| StoreError::Io { op, source })?;
            let key = String::from_utf8_lossy(&key).into_owned();
            out.push(self.decode_versioned::<T>(&what(&key), &key, &value)?);
        }
        Ok(out)
    }

    /// Decodes an entry written as `FORMAT_VERSION` + bincode; `what` names it in errors.
    fn decode_versioned<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        key: &str,
        value: &[u8],
    ) -> Result<T, StoreError> {
        let Some((&version, payload)) = value.split_first() else {
            return Err(StoreError::Format {
                what: what.to_string(),
                path: self.path.clone(),
                found: "an empty value".into(),
            });
        };
        if version != FORMAT_VERSION {
            return Err(StoreError::Format {
                what: what.to_string(),
                path: self.path.clone(),
                found: version.to_string(),
            });
        }
        let (v, _): (T, usize) = bincode::serde::decode_from_slice(payload, bincode_config())
            .map_err(|source| StoreError::Decode {
                uid: key.to_string(),
                path: self.path.clone(),
                source,
            })?;
        Ok(v)
    }
}

fn encode_plan(plan: &PodPlan) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![FORMAT_VERSION];
    let payload = bincode::serde::encode_to_vec(plan, bincode_config()).map_err(|source| {
        StoreError::Encode {
            uid: plan.uid.clone(),
            source,
        }
    })?;
    out.extend_from_slice(&payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use shoal_transport::wire::{ContainerPlan, HubMessage, RestartPolicy};

    use super::*;

    fn plan(uid: &str, revision: u64) -> PodPlan {
        PodPlan {
            uid: uid.into(),
            namespace: "default".into(),
            name: format!("pod-{uid}"),
            revision,
            restart_policy: RestartPolicy::OnFailure,
            containers: vec![ContainerPlan {
                name: "main".into(),
                image: "localhost/busybox:latest".into(),
                command: vec!["sleep".into(), "3600".into()],
                ..Default::default()
            }],
            deletion_grace_period_seconds: Some(3),
            ..Default::default()
        }
    }

    fn persist(store: &LocalStore, set: &mut DesiredSet, msg: HubMessage) {
        let write = set.plan(msg).expect("a write");
        store.write(&write).expect("write");
        set.commit(write);
    }

    #[test]
    fn empty_store_is_revision_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(&dir.path().join("state")).expect("open");
        let set = store.load().expect("load");
        assert_eq!(set.revision(), 0);
        assert!(set.is_empty());
    }

    #[test]
    fn plans_and_revision_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let mut set = DesiredSet::new();
        {
            let store = LocalStore::open(&path).expect("open");
            persist(
                &store,
                &mut set,
                HubMessage::Snapshot {
                    revision: 4,
                    pods: vec![plan("a", 3), plan("b", 4)],
                },
            );
            persist(
                &store,
                &mut set,
                HubMessage::Delta {
                    revision: 6,
                    upserts: vec![plan("c", 6)],
                    deletes: vec!["a".into()],
                },
            );
        }
        let store = LocalStore::open(&path).expect("reopen");
        let loaded = store.load().expect("load");
        assert_eq!(loaded, set, "disk equals memory after reopen");
        assert_eq!(loaded.revision(), 6);
        assert_eq!(
            loaded
                .plans()
                .iter()
                .map(|p| p.uid.as_str())
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(
            loaded.get("c"),
            Some(&plan("c", 6)),
            "plans round-trip exactly"
        );

        // A snapshot that drops everything is persisted as removals.
        let mut set = loaded;
        persist(
            &store,
            &mut set,
            HubMessage::Snapshot {
                revision: 7,
                pods: vec![],
            },
        );
        drop(store);
        let loaded = LocalStore::open(&path)
            .expect("reopen")
            .load()
            .expect("load");
        assert!(loaded.is_empty());
        assert_eq!(loaded.revision(), 7);
    }

    #[test]
    fn memory_store_round_trips_and_is_shared_by_clones() {
        let store = LocalStore::in_memory("n1");
        assert!(store.is_memory());
        let mut set = store.load().expect("load");
        assert_eq!(set.revision(), 0);
        persist(
            &store,
            &mut set,
            HubMessage::Snapshot {
                revision: 4,
                pods: vec![plan("a", 3), plan("b", 4)],
            },
        );
        let clone = store.clone();
        persist(
            &clone,
            &mut set,
            HubMessage::Delta {
                revision: 6,
                upserts: vec![plan("c", 6)],
                deletes: vec!["a".into()],
            },
        );
        let loaded = store.load().expect("load");
        assert_eq!(loaded, set, "memory equals the committed set");
        assert_eq!(loaded.revision(), 6);
        assert!(LocalStore::in_memory("n2").load().expect("load").is_empty());
    }

    #[test]
    fn corrupt_or_foreign_values_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open(&dir.path().join("state")).expect("open");
        let Backend::Disk { pods, meta, .. } = store.backend.clone() else {
            panic!("a disk store");
        };
        pods.insert("bad", vec![FORMAT_VERSION, 0xff, 0xff])
            .expect("insert");
        assert!(matches!(store.load(), Err(StoreError::Decode { uid, .. }) if uid == "bad"));
        pods.insert("bad", vec![99u8, 0]).expect("insert");
        assert!(matches!(store.load(), Err(StoreError::Format { .. })));
        pods.insert("bad", Vec::<u8>::new()).expect("insert");
        assert!(matches!(store.load(), Err(StoreError::Format { .. })));
        pods.remove("bad").expect("remove");
        meta.insert(REVISION_KEY, vec![1u8, 2]).expect("insert");
        assert!(matches!(store.load(), Err(StoreError::Format { .. })));
    }

    #[test]
    fn second_open_of_the_same_dir_fails_clearly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state");
        let _first = LocalStore::open(&path).expect("open");
        let err = LocalStore::open(&path).expect_err("locked");
        assert!(err.to_string().contains("another agent"), "{err}");
    }

    #[tokio::test]
    async fn async_wrappers_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalStore::open_async(dir.path().join("state"))
            .await
            .expect("open");
        let set = DesiredSet::new();
        let write = set
            .plan(HubMessage::Snapshot {
                revision: 2,
                pods: vec![plan("a", 2)],
            })
            .expect("write");
        let back = store.write_async(write.clone()).await.expect("write");
        assert_eq!(back, write);
        assert_eq!(store.load_async().await.expect("load").revision(), 2);
    }
}
