//! Which hollow nodes flap, and when (pure).
//!
//! A flapping node's agent runs for `up`, stops (its QUIC connection closes and its MQTT
//! connection drops without a DISCONNECT, so the broker publishes its last will), stays away
//! for `down`, and starts again with the same identity, desired pods and running simulated
//! containers, as a device whose link comes and goes. The chosen nodes are spread evenly over
//! the fleet and their first outage is staggered over one period, so the hub sees a steady
//! share of the fleet away instead of a synchronized wave.

use std::time::Duration;

/// Flapping links: `fraction` of the nodes drop for `down` after every `up`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlapConfig {
    /// Share of nodes that flap, 0.0 ..= 1.0.
    pub fraction: f64,
    /// How long a flapping node stays connected each cycle.
    pub up: Duration,
    /// How long it stays away.
    pub down: Duration,
}

impl FlapConfig {
    /// Whether node `index` flaps: evenly spread, `round_down(fraction * nodes)` of them.
    pub fn flaps(&self, index: usize) -> bool {
        let f = self.fraction.clamp(0.0, 1.0);
        ((index + 1) as f64 * f).floor() > (index as f64 * f).floor()
    }

    /// How long node `index` stays up the first time: a stagger within one `up + down`
    /// period (but at least one `up`), so outages are spread out in time.
    pub fn first_up(&self, index: usize) -> Duration {
        let period = (self.up + self.down).as_millis() as u64;
        if period == 0 {
            return self.up;
        }
        // Multiplicative hashing spreads consecutive indices over the period.
        let offset = (index as u64).wrapping_mul(2_654_435_761) % period;
        self.up + Duration::from_millis(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(fraction: f64) -> FlapConfig {
        FlapConfig {
            fraction,
            up: Duration::from_secs(20),
            down: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_share_of_flapping_nodes_is_the_fraction_and_spread() {
        for (fraction, nodes, expected) in
            [(0.1, 1000, 100), (0.0, 50, 0), (1.0, 7, 7), (0.25, 8, 2)]
        {
            let c = cfg(fraction);
            let chosen: Vec<usize> = (0..nodes).filter(|i| c.flaps(*i)).collect();
            assert_eq!(chosen.len(), expected, "fraction {fraction} of {nodes}");
            if expected > 1 {
                let gaps: Vec<usize> = chosen.windows(2).map(|w| w[1] - w[0]).collect();
                assert!(gaps.iter().all(|g| *g == nodes / expected), "{gaps:?}");
            }
        }
    }

    #[test]
    fn first_outages_are_staggered_within_one_period() {
        let c = cfg(0.1);
        let firsts: Vec<Duration> = (0..100).map(|i| c.first_up(i)).collect();
        assert!(firsts
            .iter()
            .all(|d| *d >= c.up && *d < c.up + c.up + c.down));
        let mut distinct = firsts.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 90, "staggered, not synchronized");
    }
}
