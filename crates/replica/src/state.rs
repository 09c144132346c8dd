//! `ReplState`: the replica link's sixteen states with the seed's numbers and the words
//! ROLE reports for them (R39a).
//!
//! Owns: the enum, its numbering and names, and which states count as the handshake.
//! Must never: hold transitions or any per-link data (the core's `goto` and the
//! handshake/psync/transfer/stream modules do), or be replaced by booleans (STYLE §2).

/// The project's sixteen replica link states, with the seed's numbers (R39a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ReplState {
    None = 0,
    Connect = 1,
    Connecting = 2,
    ReceivePong = 3,
    SendAuth = 4,
    ReceiveAuth = 5,
    SendPort = 6,
    ReceivePort = 7,
    SendIp = 8,
    ReceiveIp = 9,
    SendCapa = 10,
    ReceiveCapa = 11,
    SendPsync = 12,
    ReceivePsync = 13,
    Transfer = 14,
    Connected = 15,
}

impl ReplState {
    /// Every state, in number order (for coverage tables).
    pub const ALL: [ReplState; 16] = [
        ReplState::None,
        ReplState::Connect,
        ReplState::Connecting,
        ReplState::ReceivePong,
        ReplState::SendAuth,
        ReplState::ReceiveAuth,
        ReplState::SendPort,
        ReplState::ReceivePort,
        ReplState::SendIp,
        ReplState::ReceiveIp,
        ReplState::SendCapa,
        ReplState::ReceiveCapa,
        ReplState::SendPsync,
        ReplState::ReceivePsync,
        ReplState::Transfer,
        ReplState::Connected,
    ];

    /// The state word ROLE reports (R39a table).
    pub fn role_name(self) -> &'static str {
        match self {
            ReplState::None => "none",
            ReplState::Connect => "connect",
            ReplState::Connecting => "connecting",
            ReplState::Transfer => "sync",
            ReplState::Connected => "connected",
            _ => "handshake",
        }
    }

    /// States in which the link is in the handshake (R43 timeout applies).
    pub fn is_handshake(self) -> bool {
        (ReplState::ReceivePong as u8..=ReplState::ReceivePsync as u8).contains(&(self as u8))
    }
}
