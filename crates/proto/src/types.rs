//! Newtypes shared by the cores: mixing these up would be a replication bug (STYLE §2).

use std::fmt;

/// Milliseconds of (simulated or real) time, supplied by the caller; cores never read a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

/// A replication id: 40 lowercase hex characters (R1), or 40 `'0'`s for "none" (R2).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplId(pub [u8; 40]);

impl ReplId {
    /// The cleared secondary id: forty ASCII `'0'` characters (R2).
    pub const ZERO: ReplId = ReplId([b'0'; 40]);

    /// Parses exactly 40 bytes; any other length is not an id (R46 treats it as "zero the id").
    pub fn from_bytes(b: &[u8]) -> Option<ReplId> {
        let arr: [u8; 40] = b.try_into().ok()?;
        Some(ReplId(arr))
    }

    /// Builds a fresh id from 20 random bytes rendered as lowercase hex (R1).
    pub fn from_random(raw: [u8; 20]) -> ReplId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 40];
        for (i, b) in raw.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        ReplId(out)
    }

    /// The id as text (always ASCII for ids we produce; lossy for a peer's garbage).
    pub fn as_str(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// Case-insensitive comparison, as `masterTryPartialResynchronization` uses `strcasecmp`.
    pub fn eq_ignore_case(&self, other: &[u8]) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Debug for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplId({})", self.as_str())
    }
}

impl fmt::Display for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// A connection handle chosen by the node; ids come from a counter, never from addresses
/// (STYLE §5), so ordering by `ConnId` is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}
