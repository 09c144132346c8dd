//! Oracle ids: one per checker, so shrink and tests compare ids, not strings a typo could
//! silently change; the labels are the README's oracle table.
//!
//! Owns: the list of oracles and their stable labels. Must never: rename a label (reports,
//! failure files and the README keep them) or judge anything.

use serde::Serialize;

/// Which oracle found a violation: one id per checker, so shrink and tests compare ids,
/// not strings a typo could silently change. Serialized (and displayed) as its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OracleId {
    /// I5/I6/R14: backlog bounds.
    Backlog,
    /// I10/I18: data changed at one offset.
    Dataset,
    /// R45/R67/R68: PSYNC requests and restart continuity.
    Efficiency,
    /// a simulated process failed.
    Host,
    /// I2: convergence after healing.
    Liveness,
    /// B7: continue-and-drop loops.
    ObufLoop,
    /// I1/I19: offsets.
    Offset,
    /// I3: datasets by position.
    Prefix,
    /// R23/I4: PSYNC decisions.
    Psync,
    /// reads come from the stream.
    Read,
    /// read-back after convergence.
    Readback,
    /// I14: sub-replicas dropped only with a history change.
    Replicas,
    /// R3/I9: ids.
    Replid,
    /// R70/R72/I17: the generated stream's form.
    Stream,
    /// full syncs end, or a fault explains why not.
    Transfer,
    /// WAIT promises and acknowledged writes.
    Wait,
    /// A user-supplied [`crate::oracle::Check`], by its name.
    User(&'static str),
}

impl OracleId {
    /// Every oracle, for tables and documentation tests.
    pub const ALL: [OracleId; 16] = [
        OracleId::Backlog,
        OracleId::Dataset,
        OracleId::Efficiency,
        OracleId::Host,
        OracleId::Liveness,
        OracleId::ObufLoop,
        OracleId::Offset,
        OracleId::Prefix,
        OracleId::Psync,
        OracleId::Read,
        OracleId::Readback,
        OracleId::Replicas,
        OracleId::Replid,
        OracleId::Stream,
        OracleId::Transfer,
        OracleId::Wait,
    ];

    /// The stable name used in reports, failure files and the README.
    pub fn label(self) -> &'static str {
        match self {
            OracleId::Backlog => "backlog",
            OracleId::Dataset => "dataset",
            OracleId::Efficiency => "efficiency",
            OracleId::Host => "host",
            OracleId::Liveness => "liveness",
            OracleId::ObufLoop => "obuf-loop",
            OracleId::Offset => "offset",
            OracleId::Prefix => "prefix",
            OracleId::Psync => "psync",
            OracleId::Read => "read",
            OracleId::Readback => "readback",
            OracleId::Replicas => "replicas",
            OracleId::Replid => "replid",
            OracleId::Stream => "stream",
            OracleId::Transfer => "transfer",
            OracleId::Wait => "wait",
            OracleId::User(name) => name,
        }
    }

    /// The built-in oracle with this label (user checks are not listed).
    pub fn from_label(s: &str) -> Option<OracleId> {
        OracleId::ALL.into_iter().find(|o| o.label() == s)
    }
}

impl std::fmt::Display for OracleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

impl Serialize for OracleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl PartialEq<&str> for OracleId {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
}
