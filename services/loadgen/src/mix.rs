//! The weighted scenario mix: `hit=40,miss=10,job=20,list=20,bad=10`.

use std::str::FromStr;

use rand::Rng;

use crate::scenario::Scenario;

/// Scenarios with positive weights; picking one is proportional to its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    entries: Vec<(Scenario, u32)>,
    total: u32,
}

impl Mix {
    /// The scenarios that can be picked, in the order given.
    pub fn scenarios(&self) -> impl Iterator<Item = Scenario> + '_ {
        self.entries.iter().map(|(s, _)| *s)
    }

    /// Whether `scenario` has a positive weight.
    pub fn contains(&self, scenario: Scenario) -> bool {
        self.scenarios().any(|s| s == scenario)
    }

    /// Picks a scenario with probability weight / total.
    pub fn pick(&self, rng: &mut impl Rng) -> Scenario {
        let mut ticket = rng.random_range(0..self.total);
        for (scenario, weight) in &self.entries {
            if ticket < *weight {
                return *scenario;
            }
            ticket -= weight;
        }
        unreachable!("ticket is below the sum of the weights")
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut entries: Vec<(Scenario, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected name=weight"))?;
            let scenario: Scenario = name.trim().parse()?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: the weight must be a whole number"))?;
            if entries.iter().any(|(s, _)| *s == scenario) {
                return Err(format!("{name:?} appears twice"));
            }
            if weight > 0 {
                entries.push((scenario, weight));
            }
        }
        let total = entries
            .iter()
            .try_fold(0u32, |sum, (_, w)| sum.checked_add(*w))
            .ok_or("weights too large")?;
        if total == 0 {
            return Err("the mix needs at least one scenario with a positive weight".into());
        }
        Ok(Self { entries, total })
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    #[test]
    fn parses_the_default_mix() {
        let mix: Mix = "hit=40,miss=10,job=20,list=20,bad=10".parse().unwrap();
        assert_eq!(mix.total, 100);
        assert_eq!(
            mix.scenarios().collect::<Vec<_>>(),
            [
                Scenario::Hit,
                Scenario::Miss,
                Scenario::Job,
                Scenario::List,
                Scenario::Bad
            ]
        );
    }

    #[test]
    fn zero_weights_drop_out_and_spaces_are_fine() {
        let mix: Mix = " hit = 3 , miss=0, submit=1 ".parse().unwrap();
        assert!(mix.contains(Scenario::Hit));
        assert!(!mix.contains(Scenario::Miss));
        assert!(mix.contains(Scenario::Submit));
    }

    #[test]
    fn rejects_bad_mixes() {
        for bad in [
            "",
            "hit=0",
            "hit",
            "hit=x",
            "hit=-1",
            "nope=1",
            "hit=1,hit=2",
            "hit=4294967295,miss=1",
        ] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn picks_in_proportion() {
        let mix: Mix = "hit=75,bad=25".parse().unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let n = 100_000;
        let hits = (0..n).filter(|_| mix.pick(&mut rng) == Scenario::Hit).count();
        let share = hits as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01, "hit share {share}");
    }
}
