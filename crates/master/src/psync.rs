//! The partial-resynchronisation decision (R23), as a pure function of the replication
//! state, so the core, the reference model tests and the simulator's oracle can all ask
//! the same question and compare answers.

use proto::ReplId;

/// The part of a master's state R23 reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PsyncState {
    pub replid: ReplId,
    pub replid2: ReplId,
    pub second_replid_offset: i64,
    /// `(first_byte_offset, histlen)` when a backlog exists.
    pub backlog: Option<(u64, u64)>,
}

/// Why a PSYNC was answered with a full resync (the reasons redis logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FullReason {
    /// `PSYNC ? -1` (or any id starting with `?`): the replica asked for a full sync.
    Requested,
    /// The id matches neither replid nor replid2.
    IdMismatch,
    /// The id is replid2 but the offset is past `second_replid_offset` (B2, B10).
    Replid2OffsetTooHigh,
    /// No backlog exists.
    NoBacklog,
    /// The offset is before the backlog's first byte (overrun, B9c).
    BeforeBacklog,
    /// The offset is after the next byte the master will produce.
    AfterBacklog,
    /// Plain `SYNC` (R26).
    Sync,
}

/// The answer to one PSYNC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PsyncDecision {
    /// `+CONTINUE`: stream from the requested offset.
    Continue,
    /// `+FULLRESYNC`, for the reason given.
    Full(FullReason),
}

impl PsyncDecision {
    /// A short stable label for coverage tables.
    pub fn label(&self) -> &'static str {
        match self {
            PsyncDecision::Continue => "continue",
            PsyncDecision::Full(FullReason::Requested) => "full:requested",
            PsyncDecision::Full(FullReason::IdMismatch) => "full:id-mismatch",
            PsyncDecision::Full(FullReason::Replid2OffsetTooHigh) => "full:replid2-offset-too-high",
            PsyncDecision::Full(FullReason::NoBacklog) => "full:no-backlog",
            PsyncDecision::Full(FullReason::BeforeBacklog) => "full:before-backlog",
            PsyncDecision::Full(FullReason::AfterBacklog) => "full:after-backlog",
            PsyncDecision::Full(FullReason::Sync) => "full:sync",
        }
    }
}

/// R23: accept iff the id matches (replid, or replid2 with `off <= second_replid_offset`),
/// a backlog exists, and `first_byte <= off <= first_byte + histlen`.
/// Mirrors `masterTryPartialResynchronization()`, including its check order.
pub fn decide(state: &PsyncState, id: &[u8], off: i64) -> PsyncDecision {
    if id.first() == Some(&b'?') {
        return PsyncDecision::Full(FullReason::Requested);
    }
    let is_id = state.replid.eq_ignore_case(id);
    let is_id2 = state.replid2.eq_ignore_case(id);
    if !is_id {
        if !is_id2 {
            return PsyncDecision::Full(FullReason::IdMismatch);
        }
        if off > state.second_replid_offset {
            return PsyncDecision::Full(FullReason::Replid2OffsetTooHigh);
        }
    }
    let Some((first, histlen)) = state.backlog else {
        return PsyncDecision::Full(FullReason::NoBacklog);
    };
    // Offsets in the stream are >= 1, so a negative `off` is before any backlog.
    let Ok(uoff) = u64::try_from(off) else {
        return PsyncDecision::Full(FullReason::BeforeBacklog);
    };
    if uoff < first {
        return PsyncDecision::Full(FullReason::BeforeBacklog);
    }
    if uoff > first + histlen {
        return PsyncDecision::Full(FullReason::AfterBacklog);
    }
    PsyncDecision::Continue
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coverage tables key on these labels: they must be distinct and name the reason.
    #[test]
    fn labels_are_distinct_and_descriptive() {
        let all = [
            PsyncDecision::Continue,
            PsyncDecision::Full(FullReason::Requested),
            PsyncDecision::Full(FullReason::IdMismatch),
            PsyncDecision::Full(FullReason::Replid2OffsetTooHigh),
            PsyncDecision::Full(FullReason::NoBacklog),
            PsyncDecision::Full(FullReason::BeforeBacklog),
            PsyncDecision::Full(FullReason::AfterBacklog),
            PsyncDecision::Full(FullReason::Sync),
        ];
        let labels: std::collections::BTreeSet<&str> = all.iter().map(|d| d.label()).collect();
        assert_eq!(labels.len(), all.len());
        assert_eq!(PsyncDecision::Continue.label(), "continue");
        assert!(all[1..].iter().all(|d| d.label().starts_with("full:")));
    }
}
