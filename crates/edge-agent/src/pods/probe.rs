//! Container probes as a pure state machine: which probes are due at `now`, and what a
//! result does to a container's `started` / `ready` / "must be killed" state, with Kubernetes'
//! thresholds.
//!
//! Rules (kubelet's):
//! - A probe first runs `initialDelaySeconds` after the container started, then every
//!   `periodSeconds`.
//! - **Startup**: while it has not succeeded, liveness and readiness do not run and the
//!   container is not `started`; one success ends it for this run of the container;
//!   `failureThreshold` consecutive failures kill the container.
//! - **Liveness**: `failureThreshold` consecutive failures kill the container (the restart
//!   policy and its back-off then decide what happens next).
//! - **Readiness**: the container starts not ready; `successThreshold` consecutive successes
//!   make it ready, `failureThreshold` consecutive failures make it unready again. A container
//!   without a readiness probe is ready while it runs.
//!
//! State is keyed by pod UID, container name and the container's start time, so a restarted
//! container starts over (not ready, startup probe pending) without any explicit reset.

use std::collections::BTreeMap;

use shoal_transport::wire::{ContainerPlan, ProbePlan};

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// Counters of one probe of one run of a container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ProbeCounters {
    successes: u32,
    failures: u32,
    last_run_ms: Option<u64>,
    /// The probe's verdict so far: `Some(true)` succeeded (startup) / ready (readiness),
    /// `Some(false)` failed for good (startup, liveness) / unready (readiness).
    verdict: Option<bool>,
    last_message: String,
}

/// Probe state of one run of one container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ContainerProbes {
    /// Start time of the run these counters belong to.
    started_at_ms: u64,
    by_kind: BTreeMap<ProbeKind, ProbeCounters>,
}

/// A probe that is due now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueProbe {
    pub uid: String,
    pub container: String,
    pub kind: ProbeKind,
    pub probe: ProbePlan,
    /// The run of the container the result belongs to.
    pub started_at_ms: u64,
}

/// What the probes say about a container, for reconcile and status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeView {
    /// The startup probe succeeded (or there is none).
    pub started: bool,
    /// The readiness probe passes (or there is none).
    pub ready: bool,
    /// Liveness or startup failed: the container must be killed.
    pub kill: bool,
}

/// Probe state of every container of the node.
#[derive(Clone, Debug, Default)]
pub struct ProbeBook {
    containers: BTreeMap<(String, String), ContainerProbes>,
}

impl ProbeBook {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, uid: &str, container: &str, started_at_ms: u64) -> &mut ContainerProbes {
        let e = self
            .containers
            .entry((uid.to_string(), container.to_string()))
            .or_default();
        if e.started_at_ms != started_at_ms {
            *e = ContainerProbes {
                started_at_ms,
                by_kind: BTreeMap::new(),
            };
        }
        e
    }

    fn counters(&self, uid: &str, container: &str, started_at_ms: u64) -> Option<&ContainerProbes> {
        self.containers
            .get(&(uid.to_string(), container.to_string()))
            .filter(|e| e.started_at_ms == started_at_ms)
    }

    /// The probes' view of the run of `c` that started at `started_at_ms`.
    pub fn view(&self, uid: &str, c: &ContainerPlan, started_at_ms: u64) -> ProbeView {
        let e = self.counters(uid, &c.name, started_at_ms);
        let verdict = |k| e.and_then(|e| e.by_kind.get(&k)).and_then(|p| p.verdict);
        let started = c.startup_probe.is_none() || verdict(ProbeKind::Startup) == Some(true);
        let ready =
            started && (c.readiness_probe.is_none() || verdict(ProbeKind::Readiness) == Some(true));
        let kill = verdict(ProbeKind::Startup) == Some(false)
            || verdict(ProbeKind::Liveness) == Some(false);
        ProbeView {
            started,
            ready,
            kill,
        }
    }

    /// The message of the last failed probe of the run, for events and logs.
    pub fn last_failure(
        &self,
        uid: &str,
        container: &str,
        started_at_ms: u64,
    ) -> Option<(ProbeKind, &str)> {
        self.counters(uid, container, started_at_ms)?
            .by_kind
            .iter()
            .find(|(_, p)| p.failures > 0 && !p.last_message.is_empty())
            .map(|(k, p)| (*k, p.last_message.as_str()))
    }

    /// The probes of a running container (started at `started_at_ms`) that are due at
    /// `now_ms`. Startup gates the others; a probe whose verdict killed the container is not
    /// run again for this run.
    pub fn due(
        &self,
        uid: &str,
        c: &ContainerPlan,
        started_at_ms: u64,
        now_ms: u64,
    ) -> Vec<DueProbe> {
        let e = self.counters(uid, &c.name, started_at_ms);
        let state = |k| e.and_then(|e| e.by_kind.get(&k));
        let is_due = |k: ProbeKind, p: &ProbePlan| {
            let first = started_at_ms.saturating_add(u64::from(p.initial_delay_seconds) * 1000);
            let next = match state(k).and_then(|s| s.last_run_ms) {
                Some(last) => last.saturating_add(u64::from(p.period_seconds) * 1000),
                None => first,
            };
            now_ms >= first.max(next)
        };
        let mut out = Vec::new();
        let mut push = |kind, probe: &ProbePlan| {
            out.push(DueProbe {
                uid: uid.to_string(),
                container: c.name.clone(),
                kind,
                probe: probe.clone(),
                started_at_ms,
            })
        };
        let view = self.view(uid, c, started_at_ms);
        if view.kill {
            return out;
        }
        if let Some(p) = &c.startup_probe {
            if !view.started {
                if is_due(ProbeKind::Startup, p) {
                    push(ProbeKind::Startup, p);
                }
                return out;
            }
        }
        for (kind, probe) in [
            (ProbeKind::Liveness, &c.liveness_probe),
            (ProbeKind::Readiness, &c.readiness_probe),
        ] {
            if let Some(p) = probe {
                if is_due(kind, p) {
                    push(kind, p);
                }
            }
        }
        out
    }

    /// The earliest time after `now_ms` at which a probe of `c` becomes due; `None` when none
    /// will (no probes, or the run is over for them).
    pub fn next_due_ms(
        &self,
        uid: &str,
        c: &ContainerPlan,
        started_at_ms: u64,
        now_ms: u64,
    ) -> Option<u64> {
        let e = self.counters(uid, &c.name, started_at_ms);
        let view = self.view(uid, c, started_at_ms);
        if view.kill {
            return None;
        }
        let at = |k: ProbeKind, p: &ProbePlan| {
            let first = started_at_ms.saturating_add(u64::from(p.initial_delay_seconds) * 1000);
            match e
                .and_then(|e| e.by_kind.get(&k))
                .and_then(|s| s.last_run_ms)
            {
                Some(last) => first.max(last.saturating_add(u64::from(p.period_seconds) * 1000)),
                None => first,
            }
        };
        let candidates: Vec<u64> = match (&c.startup_probe, view.started) {
            (Some(p), false) => vec![at(ProbeKind::Startup, p)],
            _ => [
                (ProbeKind::Liveness, &c.liveness_probe),
                (ProbeKind::Readiness, &c.readiness_probe),
            ]
            .into_iter()
            .filter_map(|(k, p)| p.as_ref().map(|p| at(k, p)))
            .collect(),
        };
        candidates.into_iter().min().map(|t| t.max(now_ms))
    }

    /// Records that `probe` ran at `now_ms` with `success`. Returns true when the container's
    /// [`ProbeView`] changed (ready flipped, startup finished, or the container must die).
    pub fn record(&mut self, probe: &DueProbe, success: bool, message: &str, now_ms: u64) -> bool {
        let e = self.entry(&probe.uid, &probe.container, probe.started_at_ms);
        let p = e.by_kind.entry(probe.kind).or_default();
        let before = p.verdict;
        p.last_run_ms = Some(now_ms);
        if success {
            p.successes = p.successes.saturating_add(1);
            p.failures = 0;
            p.last_message.clear();
        } else {
            p.failures = p.failures.saturating_add(1);
            p.successes = 0;
            p.last_message = message.to_string();
        }
        let plan = &probe.probe;
        p.verdict = match probe.kind {
            ProbeKind::Startup if success => Some(true),
            ProbeKind::Startup | ProbeKind::Liveness if p.failures >= plan.failure_threshold => {
                Some(false)
            }
            ProbeKind::Startup | ProbeKind::Liveness => p.verdict,
            ProbeKind::Readiness if success && p.successes >= plan.success_threshold => Some(true),
            ProbeKind::Readiness if !success && p.failures >= plan.failure_threshold => Some(false),
            ProbeKind::Readiness => p.verdict,
        };
        p.verdict != before
    }

    /// Drops the state of pods not in `uids`.
    pub fn retain_pods(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.containers.retain(|(uid, _), _| keep(uid));
    }
}

#[cfg(test)]
mod tests {
    use shoal_transport::wire::ProbeAction;

    use super::*;

    const S: u64 = 1000;
    const T0: u64 = 1_800_000_000_000;

    fn probe(initial: u32, period: u32, success: u32, failure: u32) -> ProbePlan {
        ProbePlan {
            action: ProbeAction::TcpSocket {
                host: String::new(),
                port: 80,
            },
            initial_delay_seconds: initial,
            period_seconds: period,
            timeout_seconds: 1,
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    fn container(
        startup: Option<ProbePlan>,
        liveness: Option<ProbePlan>,
        readiness: Option<ProbePlan>,
    ) -> ContainerPlan {
        ContainerPlan {
            name: "c".into(),
            startup_probe: startup,
            liveness_probe: liveness,
            readiness_probe: readiness,
            ..Default::default()
        }
    }

    fn run(book: &mut ProbeBook, c: &ContainerPlan, now: u64, ok: bool) -> Vec<ProbeKind> {
        let due = book.due("u", c, T0, now);
        for d in &due {
            book.record(d, ok, if ok { "" } else { "connection refused" }, now);
        }
        due.iter().map(|d| d.kind).collect()
    }

    #[test]
    fn no_probes_means_started_and_ready() {
        let c = container(None, None, None);
        let book = ProbeBook::new();
        assert_eq!(
            book.view("u", &c, T0),
            ProbeView {
                started: true,
                ready: true,
                kill: false
            }
        );
        assert!(book.due("u", &c, T0, T0 + 100 * S).is_empty());
        assert_eq!(book.next_due_ms("u", &c, T0, T0), None);
    }

    #[test]
    fn readiness_thresholds_and_schedule() {
        let c = container(None, None, Some(probe(5, 10, 2, 3)));
        let mut book = ProbeBook::new();
        assert!(
            !book.view("u", &c, T0).ready,
            "not ready before the first success"
        );
        assert_eq!(
            run(&mut book, &c, T0 + 4 * S, true),
            vec![],
            "initial delay"
        );
        assert_eq!(book.next_due_ms("u", &c, T0, T0 + 4 * S), Some(T0 + 5 * S));
        assert_eq!(
            run(&mut book, &c, T0 + 5 * S, true),
            vec![ProbeKind::Readiness]
        );
        assert!(!book.view("u", &c, T0).ready, "one success of two");
        assert_eq!(run(&mut book, &c, T0 + 14 * S, true), vec![], "period");
        assert_eq!(
            run(&mut book, &c, T0 + 15 * S, true),
            vec![ProbeKind::Readiness]
        );
        assert!(book.view("u", &c, T0).ready);
        // Two failures: still ready; the third makes it unready.
        for (i, ready) in [(25, true), (35, true), (45, false)] {
            run(&mut book, &c, T0 + i * S, false);
            assert_eq!(book.view("u", &c, T0).ready, ready, "at {i}s");
        }
        // Recovers after two successes again.
        run(&mut book, &c, T0 + 55 * S, true);
        assert!(!book.view("u", &c, T0).ready);
        run(&mut book, &c, T0 + 65 * S, true);
        assert!(book.view("u", &c, T0).ready);
        assert_eq!(
            book.last_failure("u", "c", T0),
            None,
            "a success clears the failure"
        );
    }

    #[test]
    fn liveness_kills_after_threshold_and_a_restart_starts_over() {
        let c = container(None, Some(probe(0, 1, 1, 3)), None);
        let mut book = ProbeBook::new();
        run(&mut book, &c, T0, false);
        run(&mut book, &c, T0 + S, true); // a success resets the count
        run(&mut book, &c, T0 + 2 * S, false);
        run(&mut book, &c, T0 + 3 * S, false);
        assert!(!book.view("u", &c, T0).kill);
        assert_eq!(
            book.last_failure("u", "c", T0),
            Some((ProbeKind::Liveness, "connection refused"))
        );
        run(&mut book, &c, T0 + 4 * S, false);
        assert!(book.view("u", &c, T0).kill);
        assert!(
            book.due("u", &c, T0, T0 + 10 * S).is_empty(),
            "not probed again"
        );
        // The restarted container (new start time) is alive until probed otherwise.
        let t1 = T0 + 20 * S;
        assert!(!book.view("u", &c, t1).kill);
        assert_eq!(book.due("u", &c, t1, t1).len(), 1);
    }

    #[test]
    fn startup_gates_the_other_probes() {
        let c = container(
            Some(probe(0, 2, 1, 3)),
            Some(probe(0, 1, 1, 1)),
            Some(probe(0, 1, 1, 1)),
        );
        let mut book = ProbeBook::new();
        let v = book.view("u", &c, T0);
        assert!(!v.started && !v.ready && !v.kill);
        assert_eq!(run(&mut book, &c, T0, false), vec![ProbeKind::Startup]);
        assert_eq!(
            run(&mut book, &c, T0 + 2 * S, true),
            vec![ProbeKind::Startup]
        );
        let v = book.view("u", &c, T0);
        assert!(v.started && !v.ready);
        assert_eq!(
            run(&mut book, &c, T0 + 3 * S, true),
            vec![ProbeKind::Liveness, ProbeKind::Readiness]
        );
        assert!(book.view("u", &c, T0).ready);
    }

    #[test]
    fn startup_failure_kills() {
        let c = container(Some(probe(0, 1, 1, 2)), None, None);
        let mut book = ProbeBook::new();
        run(&mut book, &c, T0, false);
        assert!(!book.view("u", &c, T0).kill);
        run(&mut book, &c, T0 + S, false);
        assert!(book.view("u", &c, T0).kill);
    }

    #[test]
    fn record_reports_changes_only() {
        let c = container(None, None, Some(probe(0, 1, 1, 1)));
        let mut book = ProbeBook::new();
        let due = book.due("u", &c, T0, T0).remove(0);
        assert!(book.record(&due, true, "", T0));
        assert!(!book.record(&due, true, "", T0 + S));
        assert!(book.record(&due, false, "500", T0 + 2 * S));
        book.retain_pods(|uid| uid != "u");
        assert!(!book.view("u", &c, T0).ready);
    }
}
