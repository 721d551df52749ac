//! The durable, append-only `DATA/mqtt-users` writer: one line per issued credential,
//! appended and synced with group commit.
//!
//! Design: a join must not answer before the node's MQTT credentials are on disk (a hub that
//! crashed right after would otherwise refuse the node's broker login forever). Rewriting the
//! whole file per join made joins O(fleet size) each and serialized them behind one fsync
//! apiece; at thousands of nodes that was the join rate's limit. Now a join appends one line;
//! joins arriving while a sync runs queue their lines, and the next writer appends and syncs
//! them all at once (the same group commit as the store's writer). A re-joining node appends
//! a newer line for the same user: on reading, the last line of a user wins, and the file is
//! rewritten compacted (to a temporary file, synced, renamed) when it has grown past twice
//! its distinct users plus [`SLACK_LINES`], so it stays bounded.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::bootstrap::BootstrapError;

/// Superseded lines tolerated before the file is compacted.
pub const SLACK_LINES: usize = 1024;

struct Pending {
    lines: Vec<String>,
    /// Sequence number of the newest line queued.
    queued: u64,
    /// Every line up to this sequence number is on disk.
    durable: u64,
    /// Lines in the file and distinct users in it (for compaction).
    file_lines: usize,
    users: HashMap<String, String>,
}

/// Appends `user:password:role` lines to one file, durably, in groups.
pub struct UsersLog {
    path: PathBuf,
    pending: Mutex<Pending>,
    /// Held by the one thread writing and syncing; others queue behind it.
    file: Mutex<Option<File>>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> BootstrapError + '_ {
    move |source| BootstrapError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn user_of(line: &str) -> &str {
    line.split(':').next().unwrap_or("")
}

impl UsersLog {
    /// Opens the log over `path`'s current lines (`(user, line)` in file order).
    pub fn open(path: PathBuf, lines: &[(String, String)]) -> UsersLog {
        let mut users = HashMap::new();
        for (u, l) in lines {
            users.insert(u.clone(), l.clone());
        }
        UsersLog {
            path,
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                queued: 0,
                durable: 0,
                file_lines: lines.len(),
                users,
            }),
            file: Mutex::new(None),
        }
    }

    /// Appends `line` and returns once it is synced to disk (perhaps by another caller's
    /// sync that took it along).
    pub fn append(&self, line: String) -> Result<(), BootstrapError> {
        let mine = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.lines.push(line);
            p.queued += 1;
            p.queued
        };
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let (batch, upto, compact) = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if p.durable >= mine {
                return Ok(());
            }
            let batch = std::mem::take(&mut p.lines);
            for l in &batch {
                p.users.insert(user_of(l).to_string(), l.clone());
            }
            let compact = p.file_lines + batch.len() > 2 * p.users.len() + SLACK_LINES;
            let all: Vec<String> = compact
                .then(|| p.users.values().cloned().collect())
                .unwrap_or_default();
            (batch, p.queued, compact.then_some(all))
        };
        let written = match compact {
            Some(all) => self.rewrite(&mut file, &all).map(|()| (all.len(), true)),
            None => self
                .append_synced(&mut file, &batch)
                .map(|()| (batch.len(), false)),
        };
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match written {
            Ok((n, replaced)) => {
                p.file_lines = if replaced { n } else { p.file_lines + n };
                p.durable = upto;
                Ok(())
            }
            Err(e) => {
                // Put the batch back so the next writer tries again; a line written twice
                // is harmless (the last line of a user wins).
                let mut back = batch;
                back.append(&mut p.lines);
                p.lines = back;
                *file = None;
                Err(e)
            }
        }
    }

    fn append_synced(
        &self,
        file: &mut Option<File>,
        lines: &[String],
    ) -> Result<(), BootstrapError> {
        if file.is_none() {
            let mut opts = OpenOptions::new();
            opts.append(true).create(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            *file = Some(opts.open(&self.path).map_err(io_err(&self.path))?);
        }
        let Some(f) = file.as_mut() else {
            return Ok(());
        };
        let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        f.write_all(text.as_bytes()).map_err(io_err(&self.path))?;
        f.sync_data().map_err(io_err(&self.path))
    }

    /// Replaces the file with `lines` (temporary file, sync, rename, sync the directory).
    fn rewrite(&self, file: &mut Option<File>, lines: &[String]) -> Result<(), BootstrapError> {
        *file = None;
        let tmp = self.path.with_extension("tmp");
        let mut text = lines.join("\n");
        text.push('\n');
        shoal_transport::pki::write_private(&tmp, text.as_bytes()).map_err(|e| {
            BootstrapError::Write {
                path: tmp.clone(),
                source: std::io::Error::other(e.to_string()),
            }
        })?;
        std::fs::rename(&tmp, &self.path).map_err(io_err(&self.path))?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_appends_all_land_and_the_last_line_of_a_user_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mqtt-users");
        std::fs::write(&path, "shoal-hub:h:hub\n").expect("seed");
        let log = Arc::new(UsersLog::open(
            path.clone(),
            &[("shoal-hub".into(), "shoal-hub:h:hub".into())],
        ));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        log.append(format!("node-{t}-{i}:p{i}:node:{t}-{i}"))
                            .expect("append");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        log.append("node-0-0:newer:node:0-0".into())
            .expect("append");
        let users = crate::bootstrap::mqtt_users(&path).expect("read");
        let map: HashMap<_, _> = users
            .iter()
            .map(|(u, p, _)| (u.clone(), p.clone()))
            .collect();
        assert_eq!(map.len(), 1 + 8 * 50);
        assert_eq!(map["node-0-0"], "newer");
        assert_eq!(map["node-7-49"], "p49");
    }

    #[test]
    fn rejoins_past_the_slack_compact_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mqtt-users");
        let log = UsersLog::open(path.clone(), &[]);
        for i in 0..(SLACK_LINES + 10) {
            log.append(format!("node-a:p{i}:node:a")).expect("append");
        }
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.lines().count() <= SLACK_LINES + 2,
            "the file was compacted: {} lines",
            text.lines().count()
        );
        let users = crate::bootstrap::mqtt_users(&path).expect("read");
        let last = users
            .iter()
            .rev()
            .find(|(u, _, _)| u == "node-a")
            .expect("node-a");
        assert_eq!(last.1, format!("p{}", SLACK_LINES + 9));
    }
}
