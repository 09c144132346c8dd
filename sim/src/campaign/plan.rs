//! What a campaign runs: a seed source (a range, or draws from a master seed), a shard of
//! it, and the command-line forms of both. Parsing errors are [`InputError`]s: the binary
//! exits with status 2 on them, before running anything.

use std::collections::BTreeSet;
use std::str::FromStr;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Bad input a user can fix (a flag's value, an input file): exit status 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// A seed as the CLI writes it: decimal or `0x` hex.
pub fn parse_seed(s: &str) -> Result<u64, InputError> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| InputError(format!("bad seed {s:?}: {e} (a seed is decimal or 0x-hex)")))
}

/// Which seeds a campaign draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Seeds {
    /// `start..end`, end exclusive; the i-th seed is `start + i`.
    Range {
        /// The first seed.
        start: u64,
        /// One past the last seed.
        end: u64,
    },
    /// Open-ended: the i-th seed is the i-th u64 of ChaCha8 seeded with `master`.
    Random {
        /// The seed every run's seed is drawn from.
        master: u64,
    },
}

impl Seeds {
    /// The `index`-th seed, `None` past the end of a range.
    pub fn nth(self, index: u64) -> Option<u64> {
        match self {
            Seeds::Range { start, end } => start.checked_add(index).filter(|s| *s < end),
            Seeds::Random { master } => {
                let mut rng = ChaCha8Rng::seed_from_u64(master);
                rng.set_word_pos(u128::from(index) * 2);
                Some(rng.next_u64())
            }
        }
    }

    /// How many seeds the source has (`None`: unbounded).
    pub fn count(self) -> Option<u64> {
        match self {
            Seeds::Range { start, end } => Some(end - start),
            Seeds::Random { .. } => None,
        }
    }
}

impl std::fmt::Display for Seeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seeds::Range { start, end } => write!(f, "{start}..{end}"),
            Seeds::Random { master } => write!(f, "random (master seed 0x{master:x})"),
        }
    }
}

/// `--seeds`: `A..B` (B exclusive, B > A) or `random` (the master seed comes from
/// `--master-seed` or is drawn, and printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedsArg {
    /// `A..B`.
    Range {
        /// A.
        start: u64,
        /// B (exclusive).
        end: u64,
    },
    /// `random`.
    Random,
}

impl FromStr for SeedsArg {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        if s == "random" {
            return Ok(SeedsArg::Random);
        }
        let (a, b) = s
            .split_once("..")
            .ok_or_else(|| InputError(format!("--seeds wants A..B or random, got {s:?}")))?;
        let (start, end) = (parse_seed(a)?, parse_seed(b)?);
        if end <= start {
            return Err(InputError(format!(
                "--seeds {s} is empty: B is exclusive and must be above A (e.g. {start}..{})",
                start.saturating_add(100)
            )));
        }
        Ok(SeedsArg::Range { start, end })
    }
}

/// `--shard i/n`: the seeds whose index in the source is ≡ i (mod n), 0 ≤ i < n.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// i, from 0.
    pub index: u64,
    /// n, at least 1.
    pub count: u64,
}

impl Shard {
    /// Every seed.
    pub const ALL: Shard = Shard { index: 0, count: 1 };
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, InputError> {
        let bad = || InputError(format!("--shard wants i/n with whole numbers 0 <= i < n, got {s:?}"));
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.parse::<u64>().map_err(|_| bad())?,
            n.parse::<u64>().map_err(|_| bad())?,
        );
        if count == 0 {
            return Err(InputError(format!("--shard {s}: the shard count n must be at least 1")));
        }
        if index >= count {
            return Err(InputError(format!(
                "--shard {s}: the index must be below the count (0..{count}; shards are numbered from 0)"
            )));
        }
        Ok(Shard { index, count })
    }
}

/// `--jobs`: at least one worker thread.
pub fn parse_jobs(s: &str) -> Result<usize, InputError> {
    match s.parse::<usize>() {
        Ok(0) => Err(InputError("--jobs 0 would run nothing: give at least 1".to_string())),
        Ok(n) => Ok(n),
        Err(e) => Err(InputError(format!("--jobs wants a number of threads, got {s:?}: {e}"))),
    }
}

/// `--budget`: a wall-clock duration (`90s`, `10m`, `2h`).
pub fn parse_budget(s: &str) -> Result<std::time::Duration, InputError> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err(InputError(format!("--budget {s} is zero: nothing would run"))),
        Ok(d) => Ok(d),
        Err(e) => Err(InputError(format!(
            "--budget wants a duration like 90s, 10m or 2h, got {s:?}: {e}"
        ))),
    }
}

/// A campaign's seeds: a source, one shard of it, and whether every seed of that shard ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Plan {
    /// Where the seeds come from.
    pub seeds: Seeds,
    /// Which of them this part ran.
    pub shard: Shard,
    /// Every seed of the shard ran (false after a budget, Ctrl-C or `--until-violation`).
    pub complete: bool,
}

/// Hands out a plan's seeds in index order, skipping those already run (a resume).
#[derive(Debug)]
pub struct Cursor {
    seeds: Seeds,
    shard: Shard,
    next: Option<u64>,
    skip: BTreeSet<u64>,
}

impl Cursor {
    /// The seeds of `shard` of `seeds`, without those in `skip`.
    pub fn new(seeds: Seeds, shard: Shard, skip: BTreeSet<u64>) -> Cursor {
        Cursor {
            seeds,
            shard,
            next: Some(shard.index),
            skip,
        }
    }

    /// Seeds left, if the source is bounded.
    pub fn remaining(&self) -> Option<u64> {
        let len = self.seeds.count()?;
        let Some(next) = self.next else { return Some(0) };
        let left = len.saturating_sub(next).div_ceil(self.shard.count);
        let skipped = (0..left)
            .filter_map(|k| self.seeds.nth(next + k * self.shard.count))
            .filter(|s| self.skip.contains(s))
            .count() as u64;
        Some(left - skipped)
    }

    /// Whether every seed has been handed out.
    pub fn exhausted(&self) -> bool {
        self.next.is_none()
    }
}

impl Iterator for Cursor {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        loop {
            let index = self.next?;
            self.next = index.checked_add(self.shard.count);
            match self.seeds.nth(index) {
                None => {
                    self.next = None;
                    return None;
                }
                Some(seed) if self.skip.contains(&seed) => continue,
                Some(seed) => return Some(seed),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_a_range_like_the_old_modulo() {
        let seeds = Seeds::Range { start: 10, end: 33 };
        let mut all: Vec<u64> = (0..4)
            .flat_map(|i| Cursor::new(seeds, Shard { index: i, count: 4 }, BTreeSet::new()))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (10..33).collect::<Vec<_>>());
        let two: Vec<u64> = Cursor::new(seeds, Shard { index: 2, count: 4 }, BTreeSet::new()).collect();
        assert_eq!(two, (10..33).filter(|s| (s - 10) % 4 == 2).collect::<Vec<_>>());
    }

    #[test]
    fn random_seeds_are_a_pure_function_of_master_and_index() {
        let s = Seeds::Random { master: 7 };
        let a: Vec<u64> = (0..5).filter_map(|i| s.nth(i)).collect();
        let b: Vec<u64> = (0..5).rev().filter_map(|i| s.nth(i)).collect();
        assert_eq!(a, b.into_iter().rev().collect::<Vec<_>>());
        assert_ne!(a[0], a[1]);
        assert_ne!(Seeds::Random { master: 8 }.nth(0), s.nth(0));
    }

    #[test]
    fn resume_skips_done_seeds_and_counts_what_is_left() {
        let seeds = Seeds::Range { start: 0, end: 10 };
        let c = Cursor::new(seeds, Shard::ALL, [1, 2, 9].into_iter().collect());
        assert_eq!(c.remaining(), Some(7));
        assert_eq!(c.collect::<Vec<_>>(), vec![0, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn ci_traps_are_input_errors() {
        for (arg, want) in [("1/0", "at least 1"), ("3/2", "below the count"), ("1/2/3", "i/n")] {
            let e = arg.parse::<Shard>().expect_err(arg);
            assert!(e.0.contains(want), "{arg}: {e}");
        }
        assert!("10..5".parse::<SeedsArg>().expect_err("empty").0.contains("empty"));
        assert!("5..5".parse::<SeedsArg>().is_err());
        assert_eq!(
            parse_jobs("0").expect_err("zero").0,
            "--jobs 0 would run nothing: give at least 1"
        );
        assert!(parse_budget("0s").is_err());
        assert_eq!(parse_budget("10m"), Ok(std::time::Duration::from_secs(600)));
    }
}
