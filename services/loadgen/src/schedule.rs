//! The open-loop arrival schedule: when each scenario is due, as an offset from the start.
//!
//! Arrivals are placed in "operational time" — the expected number of arrivals so far,
//! Λ(t) — and mapped back to wall time with Λ⁻¹. Fixed arrivals sit at Λ = 0, 1, 2, …;
//! Poisson arrivals at running sums of Exp(1) gaps. With a linear ramp-up over R seconds to
//! `rate`, Λ(t) = rate·t²/(2R) while t < R, then rate·R/2 + rate·(t − R). The schedule never
//! looks at responses, so a slow server cannot slow it down.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::cli::Arrival;

/// Yields arrival offsets in increasing order, without end.
pub struct Schedule {
    rate: f64,
    ramp: f64,
    arrival: Arrival,
    rng: StdRng,
    /// Operational time of the next arrival.
    next: f64,
}

impl Schedule {
    /// `rate` arrivals per second after a linear ramp-up of `ramp`.
    pub fn new(rate: f64, ramp: Duration, arrival: Arrival, seed: u64) -> Self {
        assert!(rate > 0.0 && rate.is_finite(), "rate must be positive");
        let mut schedule = Self {
            rate,
            ramp: ramp.as_secs_f64(),
            arrival,
            rng: StdRng::seed_from_u64(seed),
            next: 0.0,
        };
        if arrival == Arrival::Poisson {
            schedule.next = schedule.gap();
        }
        schedule
    }

    /// Distance to the next arrival in operational time.
    fn gap(&mut self) -> f64 {
        match self.arrival {
            Arrival::Fixed => 1.0,
            // Inverse transform: −ln(U) is Exp(1) for U uniform in (0, 1].
            Arrival::Poisson => -(1.0 - self.rng.random::<f64>()).ln(),
        }
    }

    /// Wall time at which `lambda` arrivals are expected: Λ⁻¹(lambda).
    fn wall_time(&self, lambda: f64) -> f64 {
        let ramp_arrivals = self.rate * self.ramp / 2.0;
        if lambda < ramp_arrivals {
            (2.0 * self.ramp * lambda / self.rate).sqrt()
        } else {
            self.ramp + (lambda - ramp_arrivals) / self.rate
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let at = self.wall_time(self.next);
        self.next += self.gap();
        Some(Duration::from_secs_f64(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_within(schedule: Schedule, horizon: Duration) -> usize {
        schedule.take_while(|at| *at < horizon).count()
    }

    #[test]
    fn fixed_schedules_exactly_rate_times_duration() {
        let s = Schedule::new(250.0, Duration::ZERO, Arrival::Fixed, 1);
        assert_eq!(count_within(s, Duration::from_secs(4)), 1000);
        let gaps: Vec<_> = Schedule::new(4.0, Duration::ZERO, Arrival::Fixed, 1).take(3).collect();
        assert_eq!(
            gaps,
            [Duration::ZERO, Duration::from_millis(250), Duration::from_millis(500)]
        );
    }

    #[test]
    fn poisson_schedules_about_rate_times_duration() {
        // 10,000 expected arrivals: the standard deviation is 100, so ±3 % is > 3 sigma.
        for seed in 1..=5 {
            let n = count_within(
                Schedule::new(1000.0, Duration::ZERO, Arrival::Poisson, seed),
                Duration::from_secs(10),
            );
            assert!((9_700..=10_300).contains(&n), "seed {seed}: {n}");
        }
    }

    #[test]
    fn poisson_is_reproducible_and_increasing() {
        let a: Vec<_> = Schedule::new(50.0, Duration::ZERO, Arrival::Poisson, 9)
            .take(100)
            .collect();
        let b: Vec<_> = Schedule::new(50.0, Duration::ZERO, Arrival::Poisson, 9)
            .take(100)
            .collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn ramp_up_halves_the_arrivals_during_the_ramp() {
        // Ramp of 10 s to 100/s: 500 during the ramp, then 100/s.
        let ramp = Duration::from_secs(10);
        let s = || Schedule::new(100.0, ramp, Arrival::Fixed, 1);
        assert_eq!(count_within(s(), Duration::from_secs(10)), 500);
        assert_eq!(count_within(s(), Duration::from_secs(15)), 1000);
        // The first half of the ramp gets a quarter of its arrivals.
        assert_eq!(count_within(s(), Duration::from_secs(5)), 125);
    }
}
