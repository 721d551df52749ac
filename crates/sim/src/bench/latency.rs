//! Latency samples of API calls, summarized per phase and kind as p50 / p99 / max.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Most samples kept per (phase, kind); later ones replace a pseudo-random earlier one
/// (reservoir sampling), so memory stays bounded on long runs.
pub const MAX_SAMPLES: usize = 20_000;

/// Summary of one (phase, kind).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Samples by (phase, kind).
#[derive(Debug, Default)]
pub struct Latencies {
    samples: BTreeMap<(String, String), (Vec<Duration>, usize, usize)>,
}

impl Latencies {
    /// Records one call (`None` = it failed).
    pub fn record(&mut self, phase: &str, kind: &str, took: Option<Duration>) {
        let entry = self
            .samples
            .entry((phase.to_string(), kind.to_string()))
            .or_default();
        let (v, seen, errors) = entry;
        match took {
            None => *errors += 1,
            Some(d) => {
                *seen += 1;
                if v.len() < MAX_SAMPLES {
                    v.push(d);
                } else {
                    let slot = (*seen as u64).wrapping_mul(2_654_435_761) as usize % *seen;
                    if slot < MAX_SAMPLES {
                        v[slot] = d;
                    }
                }
            }
        }
    }

    /// Summaries by phase, then kind.
    pub fn summaries(&self) -> BTreeMap<String, BTreeMap<String, Summary>> {
        let mut out: BTreeMap<String, BTreeMap<String, Summary>> = BTreeMap::new();
        for ((phase, kind), (v, seen, errors)) in &self.samples {
            let mut sorted = v.clone();
            sorted.sort_unstable();
            let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
            let at = |q: f64| {
                if sorted.is_empty() {
                    None
                } else {
                    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
                    sorted.get(i)
                }
            };
            out.entry(phase.clone()).or_default().insert(
                kind.clone(),
                Summary {
                    count: *seen,
                    errors: *errors,
                    p50_ms: ms(at(0.50)),
                    p99_ms: ms(at(0.99)),
                    max_ms: ms(sorted.last()),
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.record("join", "mutate", Some(Duration::from_millis(ms)));
        }
        l.record("join", "mutate", None);
        let s = &l.summaries()["join"]["mutate"];
        assert_eq!((s.count, s.errors), (100, 1));
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (50.0, 99.0, 100.0));
    }

    #[test]
    fn samples_stay_bounded() {
        let mut l = Latencies::default();
        for i in 0..(MAX_SAMPLES * 3) {
            l.record("p", "k", Some(Duration::from_micros(i as u64)));
        }
        assert_eq!(l.samples[&("p".into(), "k".into())].0.len(), MAX_SAMPLES);
        assert_eq!(l.summaries()["p"]["k"].count, MAX_SAMPLES * 3);
    }
}
