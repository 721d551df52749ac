//! ReportBook: what the PodManager last handed to the StatusReporter, and the events waiting
//! for the next hand-over. Pure: a pass's statuses in ([`ReportBook::outgoing`]), the message
//! to send out; the book changes only once the send succeeded ([`ReportBook::sent`]).
//!
//! Design: status events (`BackOff`) are derived from the difference between the last
//! *sent* status and the new one, and they are never stored ahead of the send. A pass whose
//! message finds the reporter's mailbox full changes nothing here, so the next pass derives
//! the same events once more, instead of adding them a second time to what already waits.

use std::collections::HashMap;

use shoal_transport::status::PodStatus;
use shoal_transport::wire::PodPlan;

use super::{events, PodEvent};
use crate::status_reporter::{PodRef, PodStatusUpdate, PodStatuses};

/// Most events waiting for the reporter; past it new ones are dropped (and logged).
pub const MAX_PENDING_EVENTS: usize = 512;

/// What was last sent to the reporter for a pod.
#[derive(Debug)]
struct Reported {
    namespace: String,
    name: String,
    status: PodStatus,
}

/// The PodManager's record of what the reporter has.
#[derive(Debug, Default)]
pub struct ReportBook {
    reported: HashMap<String, Reported>,
    running: Option<u32>,
    /// Events of what workers did and probes found, not yet handed out.
    events: Vec<PodEvent>,
}

impl ReportBook {
    pub fn new() -> ReportBook {
        ReportBook::default()
    }

    /// Queues `ev` for the next message; false (dropped) past [`MAX_PENDING_EVENTS`].
    pub fn push_event(&mut self, ev: PodEvent) -> bool {
        if self.events.len() >= MAX_PENDING_EVENTS {
            return false;
        }
        self.events.push(ev);
        true
    }

    /// The message for a pass: `statuses` are every desired pod's current status (a
    /// reported pod not among them was removed), `running` the pods with a running
    /// container. `None` when nothing changed since the last send.
    pub fn outgoing<'a>(
        &self,
        statuses: impl IntoIterator<Item = (&'a PodPlan, PodStatus)>,
        running: u32,
    ) -> Option<PodStatuses> {
        let mut changed = Vec::new();
        let mut events = self.events.clone();
        let mut desired = std::collections::HashSet::new();
        for (plan, status) in statuses {
            desired.insert(plan.uid.as_str());
            let before = self.reported.get(&plan.uid).map(|r| &r.status);
            if before == Some(&status) {
                continue;
            }
            let evs = events::for_status(plan, before, &status);
            if events.len() + evs.len() <= MAX_PENDING_EVENTS {
                events.extend(evs);
            }
            changed.push(PodStatusUpdate {
                pod: PodRef {
                    uid: plan.uid.clone(),
                    namespace: plan.namespace.clone(),
                    name: plan.name.clone(),
                },
                status,
            });
        }
        let removed: Vec<PodRef> = self
            .reported
            .iter()
            .filter(|(uid, _)| !desired.contains(uid.as_str()))
            .map(|(uid, r)| PodRef {
                uid: uid.clone(),
                namespace: r.namespace.clone(),
                name: r.name.clone(),
            })
            .collect();
        if changed.is_empty()
            && removed.is_empty()
            && events.is_empty()
            && self.running == Some(running)
        {
            return None;
        }
        Some(PodStatuses {
            changed,
            removed,
            running_pods: running,
            events,
        })
    }

    /// `msg` (from [`ReportBook::outgoing`]) was handed to the reporter.
    pub fn sent(&mut self, msg: PodStatuses) {
        self.events.clear();
        for update in msg.changed {
            self.reported.insert(
                update.pod.uid,
                Reported {
                    namespace: update.pod.namespace,
                    name: update.pod.name,
                    status: update.status,
                },
            );
        }
        for pod in msg.removed {
            self.reported.remove(&pod.uid);
        }
        self.running = Some(msg.running_pods);
    }
}

#[cfg(test)]
mod tests {
    use shoal_transport::status::{ContainerState, ContainerStatus, StateWaiting};

    use super::*;

    fn plan() -> PodPlan {
        PodPlan {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            ..Default::default()
        }
    }

    fn backoff(restarts: i32) -> PodStatus {
        PodStatus {
            phase: "Running".into(),
            container_statuses: vec![ContainerStatus {
                name: "app".into(),
                restart_count: restarts,
                state: ContainerState {
                    waiting: Some(StateWaiting {
                        reason: Some("CrashLoopBackOff".into()),
                        message: None,
                    }),
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn reasons(msg: &PodStatuses) -> Vec<&'static str> {
        msg.events.iter().map(|e| e.reason).collect()
    }

    #[test]
    fn a_full_mailbox_does_not_duplicate_back_off_events() {
        let p = plan();
        // Passes whose send found the mailbox full before one got through.
        for failed in [0, 1, 3] {
            let mut book = ReportBook::new();
            assert!(book.push_event(book_event()));
            for _ in 0..failed {
                let msg = book.outgoing([(&p, backoff(1))], 0).expect("changed");
                assert_eq!(reasons(&msg), ["Started", "BackOff"], "a failed send");
            }
            let msg = book.outgoing([(&p, backoff(1))], 0).expect("changed");
            assert_eq!(
                reasons(&msg),
                ["Started", "BackOff"],
                "once each after {failed} failed sends"
            );
            book.sent(msg);
            assert_eq!(book.outgoing([(&p, backoff(1))], 0), None, "nothing new");
            let next = book.outgoing([(&p, backoff(2))], 0).expect("a new crash");
            assert_eq!(reasons(&next), ["BackOff"]);
        }
    }

    fn book_event() -> PodEvent {
        PodEvent {
            uid: "u1".into(),
            namespace: "default".into(),
            name: "web".into(),
            field_path: "spec.containers{app}".into(),
            warning: false,
            reason: "Started",
            message: "Started container app".into(),
        }
    }

    #[test]
    fn removed_pods_and_the_running_count_are_reported_once() {
        let p = plan();
        let mut book = ReportBook::new();
        let msg = book.outgoing([(&p, backoff(0))], 1).expect("first");
        book.sent(msg);
        assert_eq!(book.outgoing([(&p, backoff(0))], 1), None);
        let msg = book.outgoing([], 0).expect("removed");
        assert_eq!(msg.removed.len(), 1);
        assert_eq!(msg.running_pods, 0);
        assert!(msg.changed.is_empty());
        book.sent(msg);
        assert_eq!(book.outgoing([], 0), None);
        for _ in 0..MAX_PENDING_EVENTS {
            assert!(book.push_event(book_event()));
        }
        assert!(!book.push_event(book_event()), "bounded");
    }
}
