//! PSYNC rule sets: the replication decisions redis has changed over its history, as one
//! trait a design implements, so a change to the rules can be simulated and compared against
//! today's redis on the same seeds (`psync-sim compare`).
//!
//! A trait with default methods rather than a struct of enumerated policies: a designer's
//! change is arbitrary code (a widened R23 window, a different promotion), not a choice among
//! the variants we thought of; the defaults are redis 7.0, so a rule set states only what it
//! changes and reads as a diff against redis.
//!
//! Owns: the hooks, the shipped rule sets (one file each) and the registry [`ALL`].
//! Must never: carry state (a rule set is a pure policy; the cores own the state it reads),
//! or draw randomness (the core passes in the fresh id it drew).
//!
//! Adding a rule set: one file in this folder implementing [`RuleSet`] (override only what
//! changes) and one line in [`ALL`].

use proto::ReplId;

use crate::backlog::ReplBacklog;
use crate::psync::{decide, PsyncDecision, PsyncState};

mod meaningful_offset;
mod no_restart_continuity;
mod psync1;
mod redis70;
mod ttl_keeps_replid;

pub use meaningful_offset::MeaningfulOffset600;
pub use no_restart_continuity::NoRestartContinuity;
pub use psync1::Psync1;
pub use redis70::Redis70;
pub use ttl_keeps_replid::TtlKeepsReplid;

/// What promotion (`REPLICAOF NO ONE`, R62) does to a node's replication ids. An enum of
/// the designs redis has shipped rather than free code: the shift is R3's own code in the
/// core (`replid.rs`), which the B5 checks and planted bugs target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// R3 (redis 4.0+): a fresh id; the old one stays valid as replid2 up to
    /// `second_replid_offset = offset + 1`, so the old master's replicas can continue.
    Shift,
    /// R1/R2 (redis 2.8–3.2): a fresh id and no replid2; every replica full-syncs.
    NewHistory,
}

/// A rule set: each method is one decision, defaulting to what redis 7.0 does.
pub trait RuleSet: std::fmt::Debug + Send + Sync {
    /// The registry name (`--rules NAME`); part of a run's identity.
    fn name(&self) -> &'static str;

    /// One line for `psync-sim rules`: what the design is, and which redis shipped it.
    fn summary(&self) -> &'static str {
        ""
    }

    /// R23: the answer to `PSYNC id off` in `state`.
    fn decide(&self, state: &PsyncState, id: &[u8], off: i64) -> PsyncDecision {
        decide(state, id, off)
    }

    /// R62: what promotion does to the ids. redis 4.0+: [`Promotion::Shift`].
    fn promotion(&self) -> Promotion {
        Promotion::Shift
    }

    /// R16/B6: whether freeing the backlog after `repl-backlog-ttl` starts a new history.
    /// redis 4.0+: yes, or a stale offset of the old id could be continued later.
    fn ttl_frees_history(&self) -> bool {
        true
    }

    /// R68: whether a master restarted from its RDB keeps serving PSYNC for the stored
    /// history (as replid2). redis 4.0+: yes.
    fn master_restart_continuity(&self) -> bool {
        true
    }

    /// R67: whether a replica restarted from its RDB asks `PSYNC <stored id> <offset+1>`
    /// instead of `PSYNC ? -1`. redis 4.0+: yes.
    fn replica_restart_continuity(&self) -> bool {
        true
    }

    /// R60/R61 (and B2): the position a master that becomes a replica asks to continue
    /// from, given its ids, offset and backlog; `None` asks `PSYNC ? -1`. A position before
    /// `offset` rewinds the node there (its backlog starts anew at that point).
    /// redis 4.0+: its own `(replid, offset)`.
    fn demoted_position(&self, replid: ReplId, offset: u64, _backlog: Option<&ReplBacklog>) -> Option<(ReplId, u64)> {
        Some((replid, offset))
    }

    /// Whether the PSYNC decision is redis 7.0's own, so the simulator's independent 7.0
    /// model and its conformance checks (R45 requests, R67/R68 restores) apply.
    fn is_redis_7_0(&self) -> bool {
        false
    }
}

/// A rule set as the cores hold it: rule sets are stateless policies, so `'static`.
pub type Rules = &'static dyn RuleSet;

/// Every shipped rule set, by name. Add a line here for a new one.
pub static ALL: &[Rules] = &[
    &Redis70,
    &Psync1,
    &NoRestartContinuity,
    &MeaningfulOffset600,
    &TtlKeepsReplid,
];

/// The rule set named `name`, if registered.
pub fn by_name(name: &str) -> Option<Rules> {
    ALL.iter().copied().find(|r| r.name() == name)
}

/// The registered names, for error messages and help.
pub fn names() -> Vec<&'static str> {
    ALL.iter().map(|r| r.name()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_resolve() {
        let names = names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate rule set names: {names:?}");
        for n in names {
            assert_eq!(by_name(n).map(|r| r.name()), Some(n));
        }
        assert!(by_name("redis-7").is_none());
    }

    #[test]
    fn only_redis_7_0_claims_to_be_it() {
        let claim: Vec<_> = ALL.iter().filter(|r| r.is_redis_7_0()).map(|r| r.name()).collect();
        assert_eq!(claim, vec!["redis-7.0"]);
    }
}
