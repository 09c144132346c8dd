//! Errors of the keyspace: command errors (which become `-ERR ...` replies, never Rust
//! failures of the node) and misuse of the accessor API.
//!
//! Display strings are redis-server 7.0's own wording, byte for byte, because they are sent
//! to clients as-is; that is why a few start with a capital letter.

use super::reply;

/// A command that redis would answer with an error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `commandCheckArity()` / `addReplyErrorArity()`; carries the lowercase command name.
    #[error("wrong number of arguments for '{0}' command")]
    WrongArity(&'static str),
    /// `getLongLongFromObjectOrReply()` with the default message.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// `getIntFromObjectOrReply()` on a value outside `int` (SELECT).
    #[error("value is out of range, value must between -2147483648 and 2147483647")]
    NotAnInt,
    /// `shared.syntaxerr`.
    #[error("syntax error")]
    Syntax,
    /// SELECT with an index outside `0..16`.
    #[error("DB index is out of range")]
    DbIndexOutOfRange,
    /// INCR family result outside `i64`.
    #[error("increment or decrement would overflow")]
    IncrOverflow,
    /// `DECRBY key -9223372036854775808`: negating the decrement itself overflows.
    #[error("decrement would overflow")]
    DecrOverflow,
    /// `addReplyErrorExpireTime()`; carries the lowercase command name.
    #[error("invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    /// `checkStringLength()` against proto-max-bulk-len.
    #[error("string exceeds maximum allowed size (proto-max-bulk-len)")]
    StringTooLong,
    /// EXPIRE-family option that is not NX/XX/GT/LT; carries the option up to its first NUL.
    #[error("Unsupported option {}", String::from_utf8_lossy(.0))]
    UnsupportedOption(Vec<u8>),
    /// EXPIRE with NX next to XX, GT or LT.
    #[error("NX and XX, GT or LT options at the same time are not compatible")]
    ExpireNxConflict,
    /// EXPIRE with both GT and LT.
    #[error("GT and LT options at the same time are not compatible")]
    ExpireGtLtConflict,
    /// `addReplySubcommandSyntaxError()`: the subcommand (cut at NUL and at 128 bytes) and
    /// the command name uppercased.
    #[error(
        "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(.subcommand),
        String::from_utf8_lossy(.command)
    )]
    UnknownSubcommand {
        /// The subcommand as redis prints it with `%.128s`.
        subcommand: Vec<u8>,
        /// `argv[0]` uppercased.
        command: Vec<u8>,
    },
    /// `shared.roslaveerr`: a client write on a read-only replica.
    #[error("You can't write against a read only replica.")]
    ReadOnlyReplica,
}

impl CommandError {
    /// The exact RESP2 error reply redis sends for this error.
    pub fn to_reply(&self) -> Vec<u8> {
        let code: &[u8] = match self {
            CommandError::ReadOnlyReplica => b"READONLY",
            _ => b"ERR",
        };
        // Payloads may be arbitrary bytes, so they are spliced in raw rather than through
        // the lossy Display text.
        let message = match self {
            CommandError::UnsupportedOption(opt) => [&b"Unsupported option "[..], opt].concat(),
            CommandError::UnknownSubcommand { subcommand, command } => [
                &b"unknown subcommand or wrong number of arguments for '"[..],
                subcommand,
                b"'. Try ",
                command,
                b" HELP.",
            ]
            .concat(),
            other => other.to_string().into_bytes(),
        };
        reply::error(code, &message)
    }
}

/// Misuse of the keyspace accessors (not a command error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyspaceError {
    /// A database index at or above `DB_COUNT`, e.g. from an RDB SELECTDB opcode.
    #[error("keyspace error; db index {db} is out of range (databases: {max})")]
    DbOutOfRange {
        /// The index that was asked for.
        db: usize,
        /// The number of databases.
        max: usize,
    },
}
