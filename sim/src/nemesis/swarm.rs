//! Swarm mode: which fault families a seed turns on, how often, and the schedule drawn
//! from that (every episode that breaks something schedules its repair).
//!
//! Owns: the family table, the per-seed draw and schedule generation. Must never: draw
//! from any RNG but its own derived streams (adding a family or a variant must not move
//! the other draws), or decide at run time what belongs in the schedule.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{Fault, FaultKind};
use crate::net::Cut;
use crate::world::derive_seed;

/// A swarm fault family: a kind of trouble a swarm run turns on or off as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// Full or one-way partitions, healed later.
    Partitions,
    /// Links that hold their messages, released later.
    Holds,
    /// Fixed latency or random loss on a link.
    Latency,
    /// Crash and restart (with a SAVE before, sometimes a corrupted transfer after).
    Crashes,
    /// Sentinel-style failovers.
    Failovers,
    /// A replica's master link killed, or its event loop frozen.
    KillLinks,
    /// `CONFIG SET repl-backlog-size` at run time.
    Resizes,
    /// Huge single writes (B7), with small replica output-buffer limits drawn per run.
    BigWrites,
    /// Node-to-node connections deliver their bytes at seed-drawn boundaries (not a fault
    /// episode: the whole run's links, see `net::Fragmentation`).
    Fragments,
    /// Replication links cut at exact byte positions (handshake, RDB, marks, stream).
    Cuts,
}

/// One row of [`FAMILIES`].
#[derive(Debug, Clone, Copy)]
pub struct FamilyRow {
    /// The family.
    pub family: Family,
    /// The name in reports and coverage tables.
    pub label: &'static str,
    /// The chance [`Swarm::draw`] turns the family on.
    pub p_on: f64,
}

impl FamilyRow {
    const fn new(family: Family, label: &'static str, p_on: f64) -> FamilyRow {
        FamilyRow { family, label, p_on }
    }
}

/// Every family, its label and its chance, in draw order. The order is part of every seed's
/// meaning: [`Swarm::draw`] draws the flags in it, [`Swarm::enabled`] lists them in it and
/// [`swarm_schedule`] picks among the enabled episode families in it. Append, never insert.
#[rustfmt::skip]
pub const FAMILIES: [FamilyRow; 10] = [
    FamilyRow::new(Family::Partitions, "partitions",  0.5),
    FamilyRow::new(Family::Holds,      "holds",       0.3),
    FamilyRow::new(Family::Latency,    "latency",     0.3),
    FamilyRow::new(Family::Crashes,    "crashes",     0.5),
    FamilyRow::new(Family::Failovers,  "failovers",   0.5),
    FamilyRow::new(Family::KillLinks,  "kill-links",  0.5),
    FamilyRow::new(Family::Resizes,    "resizes",     0.3),
    // The rate was drawn here; the families below came later and are drawn after it.
    FamilyRow::new(Family::BigWrites,  "big-writes",  0.3),
    FamilyRow::new(Family::Fragments,  "fragments",   0.3),
    FamilyRow::new(Family::Cuts,       "cuts",        0.3),
];

/// How many rows of [`FAMILIES`] are drawn before the rate (`mean_gap_ms`).
const DRAWN_BEFORE_RATE: usize = 7;

impl Family {
    /// The name in reports and coverage tables.
    pub fn label(self) -> &'static str {
        FAMILIES
            .iter()
            .find(|r| r.family == self)
            .expect("FAMILIES has a row for every family")
            .label
    }

    /// Whether [`swarm_schedule`] draws episodes of it (fragmentation shapes the whole
    /// run's links instead, see `scenarios::swarm`).
    pub fn is_episode(self) -> bool {
        self != Family::Fragments
    }

    /// Whether it counts for "at least one family on": the newer ones after big writes
    /// are left out so older seeds keep their meaning.
    fn counts_as_on(self) -> bool {
        !matches!(self, Family::Fragments | Family::Cuts)
    }
}

/// Which fault families a swarm run enables, and how often they strike. Failure files
/// carry it: its fields (one flag per [`Family`]) are its serialized form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swarm {
    partitions: bool,
    holds: bool,
    latency: bool,
    crashes: bool,
    failovers: bool,
    kill_links: bool,
    resizes: bool,
    #[serde(default)]
    big_writes: bool,
    /// Mean ms between fault episodes.
    pub mean_gap_ms: u64,
    #[serde(default)]
    fragments: bool,
    #[serde(default)]
    cuts: bool,
}

impl Swarm {
    /// Draws the swarm configuration of a seed: each family on with its chance (at least
    /// one on), and a rate.
    pub fn draw(seed: u64) -> Swarm {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "swarm"));
        let mut s = Swarm::default();
        let (older, newer) = FAMILIES.split_at(DRAWN_BEFORE_RATE);
        for r in older {
            s.set(r.family, rng.gen_bool(r.p_on));
        }
        s.mean_gap_ms = rng.gen_range(500..3000);
        for r in newer {
            s.set(r.family, rng.gen_bool(r.p_on));
        }
        if !FAMILIES.iter().any(|r| r.family.counts_as_on() && s.is_on(r.family)) {
            s.set(Family::KillLinks, true);
        }
        s
    }

    /// Whether `family` is on.
    pub fn is_on(&self, family: Family) -> bool {
        match family {
            Family::Partitions => self.partitions,
            Family::Holds => self.holds,
            Family::Latency => self.latency,
            Family::Crashes => self.crashes,
            Family::Failovers => self.failovers,
            Family::KillLinks => self.kill_links,
            Family::Resizes => self.resizes,
            Family::BigWrites => self.big_writes,
            Family::Fragments => self.fragments,
            Family::Cuts => self.cuts,
        }
    }

    /// Turns `family` on or off.
    pub fn set(&mut self, family: Family, on: bool) {
        let flag = match family {
            Family::Partitions => &mut self.partitions,
            Family::Holds => &mut self.holds,
            Family::Latency => &mut self.latency,
            Family::Crashes => &mut self.crashes,
            Family::Failovers => &mut self.failovers,
            Family::KillLinks => &mut self.kill_links,
            Family::Resizes => &mut self.resizes,
            Family::BigWrites => &mut self.big_writes,
            Family::Fragments => &mut self.fragments,
            Family::Cuts => &mut self.cuts,
        };
        *flag = on;
    }

    /// The enabled families, in [`FAMILIES`] order.
    pub fn families(&self) -> impl Iterator<Item = Family> + '_ {
        FAMILIES.iter().map(|r| r.family).filter(|&f| self.is_on(f))
    }

    /// The enabled families' labels.
    pub fn enabled(&self) -> Vec<&'static str> {
        self.families().map(Family::label).collect()
    }
}

/// Where a cut lands: in the handshake and PSYNC reply (tens of bytes), around the
/// `+FULLRESYNC` line, the RDB header and the opening `$EOF:` mark, anywhere (log-uniform:
/// inside RESP headers, bulks and MULTI…EXEC blocks of the stream, inside RDBs), or in the
/// last bytes of a large write (inside the closing mark of a diskless transfer).
pub fn draw_cut(rng: &mut ChaCha8Rng) -> Cut {
    match rng.gen_range(0..4u8) {
        0 => Cut::After {
            after: rng.gen_range(0..64),
        },
        1 => Cut::After {
            after: rng.gen_range(60..240),
        },
        2 => {
            let bits = rng.gen_range(3..18);
            Cut::After {
                after: rng.gen_range(0..1u64 << bits),
            }
        }
        _ => Cut::BeforeEnd {
            min_len: 256,
            before_end: rng.gen_range(0..=48),
        },
    }
}

/// An episode of [`Family::Cuts`]: a replication link cut at an exact byte, on the link as
/// it is, on a fresh link (the replica drops it first: handshake, PSYNC reply, CONTINUE), or on the
/// link of a replica restarting (often a full sync: the RDB and its marks).
fn cut_episode(rng: &mut ChaCha8Rng, out: &mut Vec<Fault>, a: usize, t: u64, until: u64) {
    let cut = draw_cut(rng);
    let down = rng.gen_bool(0.7);
    let kind = FaultKind::CutLink { node: a, down, cut };
    match rng.gen_range(0..3u8) {
        0 => out.push(Fault { at_ms: t, kind }),
        1 => {
            out.push(Fault {
                at_ms: t,
                kind: FaultKind::KillLink { node: a },
            });
            out.push(Fault { at_ms: t + 1, kind });
        }
        _ => {
            let restart = until.max(t + 2);
            out.push(Fault {
                at_ms: t,
                kind: FaultKind::Crash { node: a },
            });
            out.push(Fault {
                at_ms: restart,
                kind: FaultKind::Restart { node: a },
            });
            out.push(Fault { at_ms: restart, kind });
        }
    }
}

/// A split-brain failover at `t`: the old master keeps clients that write to it now and
/// then, and rejoins later. With a short `repl-backlog-ttl` it outlives its backlog first
/// (R16), so what its rejoining PSYNC may continue depends on the id change (B6).
fn split_brain(rng: &mut ChaCha8Rng, out: &mut Vec<Fault>, to: usize, t: u64, end_ms: u64) {
    out.push(Fault {
        at_ms: t,
        kind: FaultKind::SplitFailover { to },
    });
    let rejoin = (t + rng.gen_range(1000..6000)).min(end_ms.saturating_sub(1)).max(t + 1);
    for _ in 0..rng.gen_range(1..4) {
        out.push(Fault {
            at_ms: rng.gen_range(t..rejoin),
            kind: FaultKind::StaleWrite,
        });
    }
    out.push(Fault {
        at_ms: rejoin,
        kind: FaultKind::RejoinStale,
    });
}

/// Generates a fault schedule over `[start_ms, end_ms)` for `nodes` nodes. Every episode
/// that breaks something also schedules its repair before `end_ms`, so the liveness
/// phase starts from a healed world (the run also heals everything at `end_ms`).
// Over ~70 lines on purpose: one match over the families; the order of its draws is what
// a seed means, so it stays in one place where a reordering shows.
pub fn swarm_schedule(seed: u64, swarm: &Swarm, nodes: usize, start_ms: u64, end_ms: u64) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, "nemesis"));
    let mut split = ChaCha8Rng::seed_from_u64(derive_seed(seed, "split-brain"));
    let families: Vec<Family> = swarm.families().filter(|f| f.is_episode()).collect();
    let mut out = Vec::new();
    let mut t = start_ms + rng.gen_range(0..swarm.mean_gap_ms.max(1));
    while t < end_ms && !families.is_empty() {
        let fam = families[rng.gen_range(0..families.len())];
        let a = rng.gen_range(0..nodes);
        let b = (a + rng.gen_range(1..nodes.max(2))) % nodes.max(1);
        let dur = rng.gen_range(200..4000u64);
        let until = (t + dur).min(end_ms.saturating_sub(1));
        match fam {
            Family::Partitions if nodes > 1 => {
                if rng.gen_bool(0.3) {
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::PartitionOneway { from: a, to: b },
                    });
                } else {
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::Partition { a, b },
                    });
                }
                out.push(Fault {
                    at_ms: until,
                    kind: FaultKind::Heal { a, b },
                });
            }
            Family::Holds if nodes > 1 => {
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::Hold { a, b },
                });
                out.push(Fault {
                    at_ms: until.min(t + 1500),
                    kind: FaultKind::Release { a, b },
                });
            }
            Family::Latency if nodes > 1 && rng.gen_bool(0.3) => {
                let per_mille = rng.gen_range(1..50);
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::Loss { a, b, per_mille },
                });
                out.push(Fault {
                    at_ms: until,
                    kind: FaultKind::Loss { a, b, per_mille: 0 },
                });
            }
            Family::Latency if nodes > 1 => {
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::Latency {
                        a,
                        b,
                        ms: rng.gen_range(1..200),
                    },
                });
                out.push(Fault {
                    at_ms: until,
                    kind: FaultKind::Latency { a, b, ms: 1 },
                });
            }
            Family::Crashes => {
                if rng.gen_bool(0.3) {
                    // The restarted node will full-sync from someone: corrupt that transfer.
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::CorruptTransfer { node: b },
                    });
                }
                if rng.gen_bool(0.5) {
                    out.push(Fault {
                        at_ms: t,
                        kind: FaultKind::Save { node: a },
                    });
                }
                out.push(Fault {
                    at_ms: t + 1,
                    kind: FaultKind::Crash { node: a },
                });
                out.push(Fault {
                    at_ms: until.max(t + 2),
                    kind: FaultKind::Restart { node: a },
                });
            }
            // A third of the failovers leave the old master behind (split brain) from a
            // stream of their own: the other draws keep their meaning.
            Family::Failovers if split.gen_bool(0.3) => split_brain(&mut split, &mut out, a, t, end_ms),
            Family::Failovers => out.push(Fault {
                at_ms: t,
                kind: FaultKind::Failover { to: a },
            }),
            Family::KillLinks if rng.gen_bool(0.3) => out.push(Fault {
                at_ms: t,
                kind: FaultKind::Freeze {
                    node: a,
                    ms: rng.gen_range(100..7000),
                },
            }),
            Family::KillLinks => out.push(Fault {
                at_ms: t,
                kind: FaultKind::KillLink { node: a },
            }),
            Family::Resizes => {
                let size = [16 * 1024, 32 * 1024, 1024 * 1024][rng.gen_range(0..3)];
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::BacklogResize { node: a, size },
                });
            }
            Family::BigWrites => {
                let len = [64 * 1024, 256 * 1024, 1024 * 1024][rng.gen_range(0..3)];
                out.push(Fault {
                    at_ms: t,
                    kind: FaultKind::BigWrite { len },
                });
            }
            // n0 starts as the master (no link of its own to cut): its peer instead.
            Family::Cuts => cut_episode(&mut rng, &mut out, if a == 0 { b } else { a }, t, until),
            // Two-node families on a one-node topology; fragments is never an episode.
            Family::Partitions | Family::Holds | Family::Latency | Family::Fragments => {}
        }
        t += rng.gen_range(swarm.mean_gap_ms / 2..swarm.mean_gap_ms * 3 / 2 + 1);
    }
    out.sort_by_key(|f| f.at_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family has exactly one row, and the rows are in the enum's order.
    #[test]
    fn families_table_has_one_row_per_family_in_order() {
        assert!(FAMILIES.windows(2).all(|w| w[0].family < w[1].family), "{FAMILIES:?}");
        assert_eq!(FAMILIES[0].family, Family::Partitions);
        assert_eq!(FAMILIES[FAMILIES.len() - 1].family, Family::Cuts);
        assert_eq!(FAMILIES[DRAWN_BEFORE_RATE].family, Family::BigWrites);
        for r in FAMILIES {
            let mut s = Swarm::default();
            s.set(r.family, true);
            assert!(s.is_on(r.family));
            assert_eq!(s.enabled(), vec![r.label], "{:?}: set and is_on disagree", r.family);
            assert!(r.p_on > 0.0 && r.p_on < 1.0, "{r:?}");
        }
    }

    /// Seeds keep their families and rates (the draw order of `FAMILIES` is part of them).
    #[test]
    fn swarm_draw_is_pinned() {
        let golden: [(u64, u64, &[&str]); 6] = [
            (0, 2948, &["holds", "latency", "crashes", "failovers"]),
            (1, 1611, &["crashes", "failovers", "kill-links"]),
            (
                2,
                516,
                &[
                    "crashes",
                    "failovers",
                    "kill-links",
                    "resizes",
                    "big-writes",
                    "fragments",
                    "cuts",
                ],
            ),
            (3, 2150, &["crashes", "kill-links", "big-writes", "cuts"]),
            (4, 2221, &["kill-links", "cuts"]),
            (5, 2500, &["partitions", "failovers", "kill-links", "fragments"]),
        ];
        for (seed, mean_gap_ms, enabled) in golden {
            let s = Swarm::draw(seed);
            assert_eq!(s.mean_gap_ms, mean_gap_ms, "seed {seed}");
            assert_eq!(s.enabled(), enabled, "seed {seed}");
        }
    }

    /// Failure files keep their shape: one flag per family under its field name, and files
    /// written before big writes, fragments and cuts existed still load.
    #[test]
    fn swarm_serde_shape_is_stable() {
        let s = Swarm::draw(2);
        let json = serde_json::to_string(&s).expect("serialize");
        assert_eq!(
            json,
            r#"{"partitions":false,"holds":false,"latency":false,"crashes":true,"failovers":true,"kill_links":true,"resizes":true,"big_writes":true,"mean_gap_ms":516,"fragments":true,"cuts":true}"#
        );
        let old = r#"{"partitions":true,"holds":false,"latency":false,"crashes":false,"failovers":false,"kill_links":false,"resizes":false,"mean_gap_ms":700}"#;
        let s: Swarm = serde_json::from_str(old).expect("an older failure file loads");
        assert_eq!(s.enabled(), ["partitions"]);
        assert_eq!(s.mean_gap_ms, 700);
    }
}
