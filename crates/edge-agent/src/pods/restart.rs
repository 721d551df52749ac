//! Restart policy and crash back-off: whether an exited container is started again, and when.
//!
//! Kubernetes semantics, with kubelet's numbers: the first restart of a container is immediate,
//! each further one waits a back-off that starts at [`BACKOFF_INITIAL`] and doubles up to
//! [`BACKOFF_MAX`]. A container whose last restart was [`BACKOFF_RESET`] ago (so it ran for
//! about that long, or has been waiting that long) starts over as if it had never crashed.
//!
//! The [`RestartBook`] is the only memory this needs. It is a plain value the caller owns
//! (and may persist: it is serde-serializable), passed by reference into the pure functions and
//! updated with [`RestartBook::record_restart`] after a restart was carried out.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shoal_transport::wire::{PodPlan, RestartPolicy};

/// Back-off before the second restart of a crashing container.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
/// Longest back-off between two restarts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A container whose last restart is this long ago has its back-off reset (kubelet: twice
/// the maximum back-off).
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

/// Whether a container that exited with `exit_code` is restarted under `policy`.
pub fn should_restart(policy: RestartPolicy, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}

/// The restart policy that applies to the pod right now.
///
/// Design: a pod that is being deleted (`deletion_grace_period_seconds` set) never restarts
/// anything, whatever its policy: its containers are being stopped on purpose.
pub fn effective_policy(plan: &PodPlan) -> RestartPolicy {
    if plan.deletion_grace_period_seconds.is_some() {
        RestartPolicy::Never
    } else {
        plan.restart_policy
    }
}

/// Restart history of one container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartEntry {
    /// Restarts so far (never reset; this is the pod status' `restartCount`).
    pub restarts: u32,
    /// When the last restart was carried out (ms since the epoch).
    pub last_restart_ms: u64,
    /// Back-off to wait after the container next exits, in ms.
    pub backoff_ms: u64,
}

/// Restart counts and back-off state for every container the agent restarted, keyed by pod
/// UID then container name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartBook {
    pods: BTreeMap<String, BTreeMap<String, RestartEntry>>,
}

impl RestartBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// The history of one container, if it was ever restarted.
    pub fn entry(&self, uid: &str, container: &str) -> Option<&RestartEntry> {
        self.pods.get(uid)?.get(container)
    }

    /// How often the container was restarted.
    pub fn restart_count(&self, uid: &str, container: &str) -> u32 {
        self.entry(uid, container).map_or(0, |e| e.restarts)
    }

    /// Earliest time (ms) at which the container, which exited at `finished_at_ms`, may be
    /// restarted. At or after it the restart is due; before it the container is in back-off.
    pub fn restart_due_at(&self, uid: &str, container: &str, finished_at_ms: u64) -> u64 {
        match self.entry(uid, container) {
            // Design: the first crash is restarted at once, as kubelet does.
            None => 0,
            Some(e) => {
                let backoff_end = finished_at_ms
                    .max(e.last_restart_ms)
                    .saturating_add(e.backoff_ms);
                let reset_at = e.last_restart_ms.saturating_add(ms(BACKOFF_RESET));
                backoff_end.min(reset_at)
            }
        }
    }

    /// Records that the container was restarted at `now_ms` and sets the back-off that will
    /// apply after its next exit.
    pub fn record_restart(&mut self, uid: &str, container: &str, now_ms: u64) {
        let entry = self
            .pods
            .entry(uid.to_string())
            .or_default()
            .entry(container.to_string())
            .or_default();
        let first = entry.restarts == 0;
        // Design: the same reset rule as `restart_due_at`, so a restart that was allowed
        // because the back-off expired also starts the next back-off from the beginning.
        let expired = now_ms.saturating_sub(entry.last_restart_ms) >= ms(BACKOFF_RESET);
        entry.backoff_ms = if first || expired {
            ms(BACKOFF_INITIAL)
        } else {
            entry
                .backoff_ms
                .saturating_mul(2)
                .clamp(ms(BACKOFF_INITIAL), ms(BACKOFF_MAX))
        };
        entry.restarts = entry.restarts.saturating_add(1);
        entry.last_restart_ms = now_ms;
    }

    /// Forgets a pod (call after it was removed).
    pub fn forget_pod(&mut self, uid: &str) {
        self.pods.remove(uid);
    }

    /// Keeps only the pods for which `keep(uid)` is true, so the book stays as small as the
    /// set of pods on the node.
    pub fn retain_pods(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.pods.retain(|uid, _| keep(uid));
    }

    /// Number of pods with restart history.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    #[test]
    fn policy_table() {
        let cases = [
            (RestartPolicy::Always, 0, true),
            (RestartPolicy::Always, 1, true),
            (RestartPolicy::Always, 137, true),
            (RestartPolicy::OnFailure, 0, false),
            (RestartPolicy::OnFailure, 1, true),
            (RestartPolicy::OnFailure, -1, true),
            (RestartPolicy::Never, 0, false),
            (RestartPolicy::Never, 1, false),
        ];
        for (policy, code, want) in cases {
            assert_eq!(should_restart(policy, code), want, "{policy:?} exit {code}");
        }
    }

    #[test]
    fn deleting_pod_never_restarts() {
        let mut plan = PodPlan {
            restart_policy: RestartPolicy::Always,
            ..Default::default()
        };
        assert_eq!(effective_policy(&plan), RestartPolicy::Always);
        plan.deletion_grace_period_seconds = Some(30);
        assert_eq!(effective_policy(&plan), RestartPolicy::Never);
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let mut book = RestartBook::new();
        // First crash: restart immediately.
        assert_eq!(book.restart_due_at("u", "c", 5 * S), 0);
        let mut now = 5 * S;
        let mut seen = Vec::new();
        for _ in 0..8 {
            book.record_restart("u", "c", now);
            // The container crashes one second after each restart.
            let finished = now + S;
            let due = book.restart_due_at("u", "c", finished);
            seen.push((due - finished) / S);
            now = due;
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(book.restart_count("u", "c"), 8);
    }

    #[test]
    fn backoff_resets_after_ten_minutes() {
        let mut book = RestartBook::new();
        let mut now = 0;
        for _ in 0..6 {
            book.record_restart("u", "c", now);
            now += 400 * S;
        }
        let last = book.entry("u", "c").copied().expect("entry");
        assert_eq!(last.backoff_ms, 300 * S, "back-off grew to the cap");
        // It ran 11 minutes after its last restart, then crashed: restart at once...
        let finished = last.last_restart_ms + 660 * S;
        assert_eq!(
            book.restart_due_at("u", "c", finished),
            last.last_restart_ms + 600 * S
        );
        assert!(book.restart_due_at("u", "c", finished) <= finished);
        // ...and the back-off starts over.
        book.record_restart("u", "c", finished);
        assert_eq!(book.entry("u", "c").map(|e| e.backoff_ms), Some(10 * S));
        assert_eq!(
            book.restart_count("u", "c"),
            7,
            "the count itself is never reset"
        );
    }

    #[test]
    fn forget_and_retain() {
        let mut book = RestartBook::new();
        book.record_restart("a", "c", 0);
        book.record_restart("b", "c", 0);
        book.record_restart("c", "c", 0);
        book.forget_pod("a");
        book.retain_pods(|uid| uid != "b");
        assert_eq!(book.len(), 1);
        assert_eq!(book.restart_count("c", "c"), 1);
        assert_eq!(book.restart_count("a", "c"), 0);
    }
}
