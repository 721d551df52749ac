//! `shoalctl rollout status TYPE/NAME [--timeout D] [--watch=false]`.
//!
//! [`progress`] is kubectl's status viewer as a pure function of the workload object: a
//! message, whether the rollout is done, or that it failed (a Deployment's Progressing
//! condition with reason `ProgressDeadlineExceeded`). The shell polls the object and shows
//! the counts live: on a terminal one line redrawn with a bar of updated / available /
//! unavailable counts; elsewhere each new message on its own line, as kubectl prints them.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{targets, Workload};
use crate::client;
use crate::cmd::{parse_duration, CmdError, GlobalArgs, Outcome, Session};
use crate::fields::{condition, i, s};

/// How often the workload is read while waiting.
const POLL: Duration = Duration::from_millis(500);

#[derive(Debug, clap::Args)]
pub struct Status {
    /// TYPE NAME or TYPE/NAME (deployment or daemonset).
    #[arg(required = true, value_name = "TYPE NAME")]
    args: Vec<String>,
    /// How long to wait: 30s, 5m; 0 waits forever.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    timeout: Duration,
    /// Keep watching until the rollout ends (--watch=false prints the state once).
    #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set)]
    watch: bool,
}

/// Counts for the live display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub desired: i64,
    pub updated: i64,
    pub available: i64,
    pub unavailable: i64,
}

/// Where a rollout stands (pure result of [`progress`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Waiting(String),
    Done(String),
    Failed(String),
}

/// kubectl's rollout status rules for one Deployment or DaemonSet object (pure).
pub fn progress(kind: Workload, o: &Value) -> (Progress, Counts) {
    let name = s(o, "/metadata/name");
    let observed = i(o, "/metadata/generation") <= i(o, "/status/observedGeneration");
    match kind {
        Workload::Deployment => {
            let desired = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let updated = i(o, "/status/updatedReplicas");
            let total = i(o, "/status/replicas");
            let available = i(o, "/status/availableReplicas");
            let counts = Counts {
                desired,
                updated,
                available,
                unavailable: i(o, "/status/unavailableReplicas"),
            };
            if !observed {
                return (
                    Progress::Waiting(
                        "Waiting for deployment spec update to be observed...".into(),
                    ),
                    counts,
                );
            }
            if condition(o, "Progressing")
                .is_some_and(|c| s(c, "/reason") == "ProgressDeadlineExceeded")
            {
                return (
                    Progress::Failed(format!(
                        "deployment \"{name}\" exceeded its progress deadline"
                    )),
                    counts,
                );
            }
            let p = if updated < desired {
                Progress::Waiting(format!("Waiting for deployment \"{name}\" rollout to finish: {updated} out of {desired} new replicas have been updated..."))
            } else if total > updated {
                Progress::Waiting(format!("Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...", total - updated))
            } else if available < updated {
                Progress::Waiting(format!("Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available..."))
            } else {
                Progress::Done(format!("deployment \"{name}\" successfully rolled out"))
            };
            (p, counts)
        }
        Workload::DaemonSet => {
            let desired = i(o, "/status/desiredNumberScheduled");
            let updated = i(o, "/status/updatedNumberScheduled");
            let available = i(o, "/status/numberAvailable");
            let counts = Counts {
                desired,
                updated,
                available,
                unavailable: i(o, "/status/numberUnavailable"),
            };
            let strategy = s(o, "/spec/updateStrategy/type");
            if !strategy.is_empty() && strategy != "RollingUpdate" {
                return (
                    Progress::Failed(
                        "rollout status is only available for RollingUpdate strategy type".into(),
                    ),
                    counts,
                );
            }
            if !observed {
                return (
                    Progress::Waiting(
                        "Waiting for daemon set spec update to be observed...".into(),
                    ),
                    counts,
                );
            }
            let p = if updated < desired {
                Progress::Waiting(format!("Waiting for daemon set \"{name}\" rollout to finish: {updated} out of {desired} new pods have been updated..."))
            } else if available < desired {
                Progress::Waiting(format!("Waiting for daemon set \"{name}\" rollout to finish: {available} of {desired} updated pods are available..."))
            } else {
                Progress::Done(format!("daemon set \"{name}\" successfully rolled out"))
            };
            (p, counts)
        }
    }
}

/// `[##########----------] updated 5/10  available 3/10  unavailable 7` (pure): `#` for
/// updated and available, `+` for updated but not yet available, `-` for the rest.
pub fn bar(c: Counts, width: usize) -> String {
    let desired = c.desired.max(0) as usize;
    let cells = |n: i64| -> usize {
        (n.clamp(0, c.desired.max(0)) as usize * width)
            .checked_div(desired)
            .unwrap_or(width)
    };
    let avail = cells(c.available.min(c.updated));
    let upd = cells(c.updated).max(avail);
    let mut s = String::with_capacity(width + 64);
    s.push('[');
    s.extend(std::iter::repeat_n('#', avail));
    s.extend(std::iter::repeat_n('+', upd - avail));
    s.extend(std::iter::repeat_n('-', width - upd));
    s.push(']');
    s.push_str(&format!(
        " updated {}/{}  available {}/{}  unavailable {}",
        c.updated, c.desired, c.available, c.desired, c.unavailable
    ));
    s
}

impl Status {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let s = Session::connect(g)?;
        let ts = targets(&s, &self.args)?;
        let [t] = ts.as_slice() else {
            return Err(CmdError::Usage("rollout status takes one workload".into()));
        };
        let path = t.path(&s);
        let deadline = (!self.timeout.is_zero()).then(|| Instant::now() + self.timeout);
        let tty = std::io::stdout().is_terminal();
        let mut last = String::new();
        loop {
            let o = s.client.get(&path, client::JSON)?;
            let (p, counts) = progress(t.kind, &o);
            match p {
                Progress::Done(msg) => {
                    if tty && !last.is_empty() {
                        write!(out, "\r\x1b[2K{}\n", bar(counts, 30))?;
                    }
                    writeln!(out, "{msg}")?;
                    return Ok(Outcome::Done);
                }
                Progress::Failed(msg) => {
                    if tty && !last.is_empty() {
                        writeln!(out)?;
                    }
                    return Err(CmdError::Usage(msg));
                }
                Progress::Waiting(msg) => {
                    if tty {
                        write!(out, "\r\x1b[2K{}  {msg}", bar(counts, 30))?;
                        out.flush()?;
                        last = msg;
                    } else if msg != last {
                        writeln!(out, "{msg} {}", bar(counts, 20))?;
                        out.flush()?;
                        last = msg;
                    }
                    if !self.watch {
                        if tty {
                            writeln!(out)?;
                        }
                        return Ok(Outcome::Done);
                    }
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                if tty {
                    writeln!(out)?;
                }
                return Err(CmdError::Usage(format!(
                    "timed out waiting for the rollout of {} after {}s",
                    t.label(),
                    self.timeout.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(status: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3}, "status": status})
    }

    #[test]
    fn deployment_progress_follows_kubectl() {
        let cases = [
            (json!({"observedGeneration": 1}), Progress::Waiting("Waiting for deployment spec update to be observed...".into())),
            (json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3}), Progress::Waiting("Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...".into())),
            (json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4}), Progress::Waiting("Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...".into())),
            (json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}), Progress::Waiting("Waiting for deployment \"web\" rollout to finish: 2 of 3 updated replicas are available...".into())),
            (json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}), Progress::Done("deployment \"web\" successfully rolled out".into())),
            (json!({"observedGeneration": 2, "updatedReplicas": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}), Progress::Failed("deployment \"web\" exceeded its progress deadline".into())),
        ];
        for (st, want) in cases {
            assert_eq!(
                progress(Workload::Deployment, &deploy(st.clone())).0,
                want,
                "{st}"
            );
        }
    }

    #[test]
    fn daemonset_progress_follows_kubectl() {
        let ds = |st: Value, strategy: &str| json!({"metadata": {"name": "col", "generation": 1}, "spec": {"updateStrategy": {"type": strategy}}, "status": st});
        let (p, c) = progress(
            Workload::DaemonSet,
            &ds(
                json!({"observedGeneration": 1, "desiredNumberScheduled": 10, "updatedNumberScheduled": 4, "numberAvailable": 3, "numberUnavailable": 7}),
                "RollingUpdate",
            ),
        );
        assert_eq!(p, Progress::Waiting("Waiting for daemon set \"col\" rollout to finish: 4 out of 10 new pods have been updated...".into()));
        assert_eq!(
            c,
            Counts {
                desired: 10,
                updated: 4,
                available: 3,
                unavailable: 7
            }
        );
        let (p, _) = progress(
            Workload::DaemonSet,
            &ds(
                json!({"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1}),
                "RollingUpdate",
            ),
        );
        assert_eq!(p, Progress::Waiting("Waiting for daemon set \"col\" rollout to finish: 1 of 2 updated pods are available...".into()));
        let (p, _) = progress(
            Workload::DaemonSet,
            &ds(
                json!({"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}),
                "RollingUpdate",
            ),
        );
        assert_eq!(
            p,
            Progress::Done("daemon set \"col\" successfully rolled out".into())
        );
        let (p, _) = progress(Workload::DaemonSet, &ds(json!({}), "OnDelete"));
        assert!(matches!(p, Progress::Failed(_)));
    }

    #[test]
    fn the_bar_shows_updated_and_available() {
        let c = Counts {
            desired: 10,
            updated: 5,
            available: 3,
            unavailable: 7,
        };
        assert_eq!(
            bar(c, 10),
            "[###++-----] updated 5/10  available 3/10  unavailable 7"
        );
        assert_eq!(
            bar(Counts::default(), 4),
            "[####] updated 0/0  available 0/0  unavailable 0"
        );
        let over = Counts {
            desired: 2,
            updated: 3,
            available: 3,
            unavailable: 0,
        };
        assert_eq!(
            bar(over, 4),
            "[####] updated 3/2  available 3/2  unavailable 0"
        );
    }
}
