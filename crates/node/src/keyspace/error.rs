//! Errors of the keyspace: command errors (which become `-ERR ...` replies, never Rust
//! failures of the node) and misuse of the accessor API.
//!
//! Display strings are redis-server 7.0's own wording, byte for byte, because they are sent
//! to clients as-is; that is why a few start with a capital letter.

use bytes::Bytes;

use super::parse::cstr;
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
    /// `shared.nokeyerr`: RENAME / RENAMENX of a missing key.
    #[error("no such key")]
    NoSuchKey,
    /// `parseScanCursorOrReply()`: a SCAN cursor `strtoul()` does not take whole.
    #[error("invalid cursor")]
    InvalidCursor,
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

/// redis 7.0's reply to an unknown command (`processCommand()`): the name cut at 128
/// bytes, then each argument quoted and cut so the list stays within 128 bytes (all cut at
/// a NUL, as `%s` does), CR and LF turned into spaces.
pub fn unknown_command(argv: &[Bytes]) -> Vec<u8> {
    const LIMIT: usize = 128;
    let name = argv.first().map_or(&b""[..], |a| cstr(a));
    let mut msg = b"unknown command '".to_vec();
    msg.extend_from_slice(name.get(..LIMIT).unwrap_or(name));
    msg.extend_from_slice(b"', with args beginning with: ");
    let mut args: Vec<u8> = Vec::new();
    for a in argv.iter().skip(1) {
        if args.len() >= LIMIT {
            break;
        }
        let a = cstr(a);
        let room = LIMIT - args.len();
        args.push(b'\'');
        args.extend_from_slice(a.get(..room).unwrap_or(a));
        args.extend_from_slice(b"' ");
    }
    msg.extend_from_slice(&args);
    let mapped: Vec<u8> = msg
        .into_iter()
        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    [&b"-ERR "[..], &mapped, b"\r\n"].concat()
}

/// `-ERR unknown subcommand '<sub>'. Try <CMD> HELP.` as `processCommand()` words it for
/// commands with subcommands (CONFIG, CLIENT, COMMAND): the subcommand cut at a NUL and
/// at 128 bytes, the command uppercased, CR/LF mapped to spaces.
pub fn unknown_subcommand(argv: &[Bytes]) -> Vec<u8> {
    let sub = argv.get(1).map_or(&b""[..], |a| cstr(a));
    let cmd = argv.first().map_or(&b""[..], |a| cstr(a)).to_ascii_uppercase();
    let msg = [
        &b"unknown subcommand '"[..],
        sub.get(..128).unwrap_or(sub),
        b"'. Try ",
        &cmd,
        b" HELP.",
    ]
    .concat();
    let mapped: Vec<u8> = msg
        .into_iter()
        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    [&b"-ERR "[..], &mapped, b"\r\n"].concat()
}
