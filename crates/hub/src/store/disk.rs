//! The durable half of the store: fjall keyspaces and their record formats.
//!
//! ```text
//! objects:  "{resource}/{ns}/{name}" -> [revision u64 BE][object JSON]
//! history:  revision u64 BE          -> [event type u8][key len u32 BE][key][object JSON]
//! meta:     "revision"               -> u64 BE (the last committed revision)
//! ```
//!
//! Every call here blocks; only the store's writer thread and start-up call it.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::object::EventType;

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("cannot open the store at {path}")]
    Open { path: PathBuf, source: fjall::Error },
    #[error("store I/O failed while {op}")]
    Io {
        op: &'static str,
        source: fjall::Error,
    },
    #[error("store record {key:?} is corrupt: {what}")]
    Corrupt { key: String, what: &'static str },
}

pub struct Disk {
    db: Database,
    objects: Keyspace,
    history: Keyspace,
    meta: Keyspace,
}

/// One history record read back from disk.
pub struct HistoryRecord {
    pub revision: u64,
    pub event_type: EventType,
    pub key: String,
    pub json: Bytes,
}

/// Writes of one group commit.
#[derive(Default)]
pub struct DiskBatch {
    pub puts: Vec<(String, u64, Bytes)>,
    pub deletes: Vec<String>,
    pub history: Vec<(u64, EventType, String, Bytes)>,
    pub history_drop_below: u64,
    pub history_drop_from: u64,
    pub revision: u64,
}

/// fjall's memtable per keyspace (flushed to disk beyond this).
const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// fjall's block cache.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

impl Disk {
    pub fn open(path: &Path) -> Result<Self, DiskError> {
        let open_err = |source| DiskError::Open {
            path: path.to_path_buf(),
            source,
        };
        // Design: small memtables and cache. The store serves every read from its own
        // in-memory state and reads fjall only when it opens, so fjall's defaults (64 MiB
        // memtable per keyspace, 32 MiB block cache) only held copies of recent writes: about
        // 100 MB of the hub's heap during a 5,000-pod Deployment (heaptrack).
        let db = Database::builder(path)
            .cache_size(CACHE_BYTES)
            .open()
            .map_err(open_err)?;
        let small = |bytes| move || KeyspaceCreateOptions::default().max_memtable_size(bytes);
        let objects = db
            .keyspace("objects", small(MEMTABLE_BYTES))
            .map_err(open_err)?;
        let history = db
            .keyspace("history", small(MEMTABLE_BYTES))
            .map_err(open_err)?;
        let meta = db
            .keyspace("meta", small(MEMTABLE_BYTES / 4))
            .map_err(open_err)?;
        Ok(Disk {
            db,
            objects,
            history,
            meta,
        })
    }

    pub fn revision(&self) -> Result<u64, DiskError> {
        let v = self.meta.get("revision").map_err(|source| DiskError::Io {
            op: "reading the revision",
            source,
        })?;
        match v {
            None => Ok(0),
            Some(b) => be_u64(&b).ok_or(DiskError::Corrupt {
                key: "revision".into(),
                what: "not 8 bytes",
            }),
        }
    }

    /// All objects as `(key, revision, json)`.
    pub fn load_objects(&self) -> Result<Vec<(String, u64, Bytes)>, DiskError> {
        let mut out = Vec::new();
        for kv in self.objects.iter() {
            let (k, v) = kv.into_inner().map_err(|source| DiskError::Io {
                op: "loading objects",
                source,
            })?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let rev = be_u64(&v).ok_or(DiskError::Corrupt {
                key: key.clone(),
                what: "value shorter than 8 bytes",
            })?;
            out.push((key, rev, Bytes::copy_from_slice(&v[8..])));
        }
        Ok(out)
    }

    /// The newest `limit` history records, oldest first.
    pub fn load_history(&self, limit: usize) -> Result<Vec<HistoryRecord>, DiskError> {
        let mut out = Vec::new();
        for kv in self.history.iter().rev().take(limit) {
            let (k, v) = kv.into_inner().map_err(|source| DiskError::Io {
                op: "loading history",
                source,
            })?;
            let corrupt = |what| DiskError::Corrupt {
                key: format!("history/{}", hex_key(&k)),
                what,
            };
            let revision = be_u64(&k).ok_or_else(|| corrupt("key is not 8 bytes"))?;
            if v.len() < 5 {
                return Err(corrupt("record too short"));
            }
            let event_type =
                EventType::from_byte(v[0]).ok_or_else(|| corrupt("unknown event type"))?;
            let klen = u32::from_be_bytes([v[1], v[2], v[3], v[4]]) as usize;
            if v.len() < 5 + klen {
                return Err(corrupt("key length past the end"));
            }
            let key = String::from_utf8_lossy(&v[5..5 + klen]).into_owned();
            out.push(HistoryRecord {
                revision,
                event_type,
                key,
                json: Bytes::copy_from_slice(&v[5 + klen..]),
            });
        }
        out.reverse();
        Ok(out)
    }

    /// Commits one group of writes and fsyncs before returning.
    pub fn commit(&self, b: &DiskBatch) -> Result<(), DiskError> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for (key, rev, json) in &b.puts {
            let mut v = Vec::with_capacity(8 + json.len());
            v.extend_from_slice(&rev.to_be_bytes());
            v.extend_from_slice(json);
            batch.insert(&self.objects, key.as_bytes(), v);
        }
        for key in &b.deletes {
            batch.remove(&self.objects, key.as_bytes());
        }
        for (rev, et, key, json) in &b.history {
            let mut v = Vec::with_capacity(5 + key.len() + json.len());
            v.push(et.to_byte());
            v.extend_from_slice(&(key.len() as u32).to_be_bytes());
            v.extend_from_slice(key.as_bytes());
            v.extend_from_slice(json);
            batch.insert(&self.history, rev.to_be_bytes(), v);
        }
        // Design: history on disk is bounded. Each commit drops the revisions that fell out of
        // the window since the previous commit, so compaction always keeps pace with writes.
        for rev in b.history_drop_from..b.history_drop_below {
            batch.remove(&self.history, rev.to_be_bytes());
        }
        batch.insert(&self.meta, "revision", b.revision.to_be_bytes());
        batch.commit().map_err(|source| DiskError::Io {
            op: "committing a write batch",
            source,
        })
    }

    pub fn persist(&self) -> Result<(), DiskError> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|source| DiskError::Io {
                op: "persisting",
                source,
            })
    }
}

fn be_u64(b: &[u8]) -> Option<u64> {
    let arr: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

fn hex_key(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}
