//! Sans-IO codecs for Redis replication: RESP2 frames and requests, the master→replica
//! stream (replies, RDB transfer framings, commands) and the RDB subset a replica needs.
//!
//! This crate owns byte formats only. It must never do IO, read a clock or draw randomness.

mod lzf;
pub mod rdb;
pub mod resp;
pub mod stream;
pub mod types;

pub use rdb::{RdbDb, RdbEntry, RdbError, RdbFile, ReplInfo};
pub use resp::{encode_command, Frame, ProtoError, Request};
pub use stream::{LinkDecoder, LinkItem, LinkPhase, RdbFraming};
pub use types::{ConnId, Millis, ReplId};
