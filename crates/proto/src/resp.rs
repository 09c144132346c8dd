//! RESP2: frames (replies), requests (multibulk and inline, as a server reads them) and
//! their encoders.
//!
//! Owns: exact byte accounting. Every successful decode returns the number of bytes it
//! consumed, because replication offsets count stream bytes (R5, R55, R73).
//! Must never: panic on input, allocate by a length the peer claims before the bytes are
//! there, or recurse without a depth bound.
//!
//! (Over ~500 lines on purpose: one codec; its decoders share the byte accounting above and
//! its tests sit next to them.)

use bytes::Bytes;
use thiserror::Error;

/// `proto-max-bulk-len`: the largest bulk string a peer may announce (512 MB).
pub const MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// The largest multibulk count a peer may announce.
pub const MAX_MULTIBULK_LEN: u64 = 1024 * 1024;
/// `PROTO_INLINE_MAX_SIZE`: the longest inline request line, and the longest header line
/// (`*<n>`, `$<n>`) we wait for before deciding the peer is lying.
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Nesting bound for reply arrays, so decoding is bounded recursion.
pub const MAX_FRAME_DEPTH: usize = 32;
/// Initial capacity cap for argument vectors: a claimed count never sizes an allocation.
const PREALLOC_MAX: usize = 64;

/// A RESP2 value as a reply carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+text\r\n`
    Simple(Bytes),
    /// `-text\r\n`
    Error(Bytes),
    /// `:n\r\n`
    Integer(i64),
    /// `$len\r\nbytes\r\n`
    Bulk(Bytes),
    /// `$-1\r\n`
    Null,
    /// `*n\r\n` followed by n frames
    Array(Vec<Frame>),
    /// `*-1\r\n`
    NullArray,
}

/// Typed protocol errors. The message names the limit or the bytes that were wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtoError {
    #[error("protocol error; bulk length {len} exceeds limit {max} (proto-max-bulk-len)")]
    BulkTooLong { len: i64, max: u64 },
    #[error("protocol error; multibulk count {count} exceeds limit {max}")]
    MultibulkTooLong { count: i64, max: u64 },
    #[error("protocol error; {what} line of {len} bytes exceeds limit {max}")]
    LineTooLong { what: &'static str, len: usize, max: usize },
    #[error("protocol error; invalid multibulk length {text:?}")]
    BadMultibulkLen { text: String },
    #[error("protocol error; invalid bulk length {text:?}")]
    BadBulkLen { text: String },
    #[error("protocol error; expected '$', got {got:?}")]
    ExpectedBulk { got: char },
    #[error("protocol error; unbalanced quotes in inline request")]
    UnbalancedQuotes,
    #[error("protocol error; multibulk count {count} exceeds {max} before AUTH")]
    UnauthenticatedMultibulk { count: i64, max: i64 },
    #[error("protocol error; bulk length {len} exceeds {max} before AUTH")]
    UnauthenticatedBulk { len: i64, max: i64 },
    #[error("protocol error; invalid frame type byte {byte:#04x}")]
    BadType { byte: u8 },
    #[error("protocol error; invalid integer {text:?}")]
    BadInteger { text: String },
    #[error("protocol error; {what} not terminated by CRLF")]
    MissingCrlf { what: &'static str },
    #[error("protocol error; frame nesting deeper than {max}")]
    TooDeep { max: usize },
    #[error("protocol error; bad rdb transfer preamble {line:?}")]
    BadPreamble { line: String },
    #[error("protocol error; rdb transfer of {len} bytes exceeds limit {max}")]
    RdbTooLong { len: u64, max: u64 },
}

impl ProtoError {
    /// The error text redis-server 7.0 replies with for the same malformed request, so a
    /// node can answer byte-identically (`networking.c: processMultibulkBuffer`).
    pub fn redis_reply_text(&self) -> &'static str {
        match self {
            ProtoError::BulkTooLong { .. } | ProtoError::BadBulkLen { .. } => "Protocol error: invalid bulk length",
            ProtoError::MultibulkTooLong { .. } | ProtoError::BadMultibulkLen { .. } => {
                "Protocol error: invalid multibulk length"
            }
            ProtoError::LineTooLong { what: "inline", .. } => "Protocol error: too big inline request",
            ProtoError::LineTooLong { what: "bulk count", .. } => "Protocol error: too big bulk count string",
            ProtoError::LineTooLong { .. } => "Protocol error: too big mbulk count string",
            ProtoError::ExpectedBulk { .. } => "Protocol error: expected '$'",
            ProtoError::UnbalancedQuotes => "Protocol error: unbalanced quotes in request",
            ProtoError::UnauthenticatedMultibulk { .. } => "Protocol error: unauthenticated multibulk length",
            ProtoError::UnauthenticatedBulk { .. } => "Protocol error: unauthenticated bulk length",
            _ => "Protocol error: invalid request",
        }
    }
}

/// Parses a signed decimal exactly as Redis's `string2ll`: optional `-`, no `+`, no
/// leading zeros, no spaces, must fit in i64.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let (&first, _) = digits.split_first()?;
    if first == b'0' {
        return (digits.len() == 1 && !neg).then_some(0);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(v).ok().map(|x| -x)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Finds the `\r\n` terminating the line that starts at `start`; returns the index of `\r`.
/// `Ok(None)` means the line is incomplete but still within `max`.
fn find_crlf(buf: &[u8], start: usize, what: &'static str, max: usize) -> Result<Option<usize>, ProtoError> {
    let hay = buf.get(start..).unwrap_or(&[]);
    match hay.iter().position(|&c| c == b'\r') {
        Some(i) if i > max => Err(ProtoError::LineTooLong { what, len: i, max }),
        Some(i) => match hay.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(start + i)),
            Some(_) => Err(ProtoError::MissingCrlf { what }),
        },
        None if hay.len() > max => Err(ProtoError::LineTooLong {
            what,
            len: hay.len(),
            max,
        }),
        None => Ok(None),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned()
}

/// Reads a `$<len>\r\n<bytes>\r\n` bulk whose `$` is at `pos`. `Ok(None)` = need more.
fn decode_bulk_at(buf: &[u8], pos: usize) -> Result<Option<(Option<Bytes>, usize)>, ProtoError> {
    Ok(bulk_span_at(buf, pos)?.map(|(span, next)| (span.map(|r| Bytes::copy_from_slice(&buf[r])), next)))
}

/// Where a bulk's body is in the buffer (`None` for `$-1`), and where the next item starts.
type BulkSpan = (Option<std::ops::Range<usize>>, usize);

/// [`decode_bulk_at`] without the copy.
fn bulk_span_at(buf: &[u8], pos: usize) -> Result<Option<BulkSpan>, ProtoError> {
    let Some(cr) = find_crlf(buf, pos + 1, "bulk count", MAX_INLINE_LEN)? else {
        return Ok(None);
    };
    let text = &buf[pos + 1..cr];
    let len = parse_i64(text).ok_or_else(|| ProtoError::BadBulkLen { text: lossy(text) })?;
    if len == -1 {
        return Ok(Some((None, cr + 2)));
    }
    let ulen = u64::try_from(len).map_err(|_| ProtoError::BadBulkLen { text: lossy(text) })?;
    if ulen > MAX_BULK_LEN {
        return Err(ProtoError::BulkTooLong { len, max: MAX_BULK_LEN });
    }
    let body = cr + 2;
    // ulen <= 512 MB, so it fits in usize on every supported target.
    let end = body + ulen as usize;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ProtoError::MissingCrlf { what: "bulk" });
    }
    Ok(Some((Some(body..end), end + 2)))
}

/// Reads an array/multibulk header `*<n>\r\n` at `pos`, returning the count (may be -1).
fn decode_count_at(buf: &[u8], pos: usize) -> Result<Option<(i64, usize)>, ProtoError> {
    let Some(cr) = find_crlf(buf, pos + 1, "mbulk count", MAX_INLINE_LEN)? else {
        return Ok(None);
    };
    let text = &buf[pos + 1..cr];
    let count = parse_i64(text).ok_or_else(|| ProtoError::BadMultibulkLen { text: lossy(text) })?;
    if count > MAX_MULTIBULK_LEN as i64 {
        return Err(ProtoError::MultibulkTooLong {
            count,
            max: MAX_MULTIBULK_LEN,
        });
    }
    Ok(Some((count, cr + 2)))
}

impl Frame {
    /// Decodes one frame from the start of `buf`: `Ok(Some((frame, consumed)))`, or
    /// `Ok(None)` when `buf` is a strict prefix of a frame.
    ///
    /// # Errors
    /// A typed [`ProtoError`] when the bytes can never become a valid frame.
    pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtoError> {
        decode_frame_at(buf, 0, 0)
    }

    /// Appends the RESP2 encoding of this frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Frame::Bulk(b) => encode_bulk(out, b),
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                for f in items {
                    f.encode(out);
                }
            }
        }
    }

    /// The encoding as a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

fn line(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn encode_bulk(out: &mut Vec<u8>, b: &[u8]) {
    line(out, b'$', b.len().to_string().as_bytes());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Encodes a command the way a master propagates it (R70): an array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(argv: &[A]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + argv.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    line(&mut out, b'*', argv.len().to_string().as_bytes());
    for a in argv {
        encode_bulk(&mut out, a.as_ref());
    }
    out
}

fn decode_frame_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Frame, usize)>, ProtoError> {
    let Some(&tag) = buf.get(pos) else {
        return Ok(None);
    };
    let simple =
        |what| -> Result<Option<(Bytes, usize)>, ProtoError> {
            Ok(find_crlf(buf, pos + 1, what, MAX_INLINE_LEN)?
                .map(|cr| (Bytes::copy_from_slice(&buf[pos + 1..cr]), cr + 2)))
        };
    match tag {
        b'+' => Ok(simple("simple string")?.map(|(b, e)| (Frame::Simple(b), e))),
        b'-' => Ok(simple("error")?.map(|(b, e)| (Frame::Error(b), e))),
        b':' => match simple("integer")? {
            None => Ok(None),
            Some((b, e)) => {
                let n = parse_i64(&b).ok_or_else(|| ProtoError::BadInteger { text: lossy(&b) })?;
                Ok(Some((Frame::Integer(n), e)))
            }
        },
        b'$' => Ok(decode_bulk_at(buf, pos)?.map(|(b, e)| (b.map_or(Frame::Null, Frame::Bulk), e))),
        b'*' => decode_array_at(buf, pos, depth),
        other => Err(ProtoError::BadType { byte: other }),
    }
}

fn decode_array_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Frame, usize)>, ProtoError> {
    if depth >= MAX_FRAME_DEPTH {
        return Err(ProtoError::TooDeep { max: MAX_FRAME_DEPTH });
    }
    let Some((count, mut at)) = decode_count_at(buf, pos)? else {
        return Ok(None);
    };
    if count == -1 {
        return Ok(Some((Frame::NullArray, at)));
    }
    let count = usize::try_from(count).map_err(|_| ProtoError::BadMultibulkLen {
        text: count.to_string(),
    })?;
    let mut items = Vec::with_capacity(count.min(PREALLOC_MAX));
    for _ in 0..count {
        match decode_frame_at(buf, at, depth + 1)? {
            None => return Ok(None),
            Some((f, next)) => {
                items.push(f);
                at = next;
            }
        }
    }
    Ok(Some((Frame::Array(items), at)))
}

/// A request as a server reads it from a client (or a replica reads it from its master).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The arguments; empty for an empty inline line (`\n`) or `*0`, which Redis skips.
    /// An empty line from a replica refreshes its ACK time (R36's replica-side twin).
    pub argv: Vec<Bytes>,
    /// True when the request came as an inline (telnet-style) line.
    pub inline: bool,
}

impl Request {
    /// Decodes one request from the start of `buf` the way `processInputBuffer` does:
    /// `*` starts a multibulk, anything else is an inline line.
    ///
    /// # Errors
    /// A typed [`ProtoError`] past a limit or on malformed framing.
    pub fn decode(buf: &[u8]) -> Result<Option<(Request, usize)>, ProtoError> {
        match buf.first() {
            None => Ok(None),
            Some(b'*') => decode_multibulk(buf),
            Some(_) => decode_inline(buf),
        }
    }
}

/// Most arguments an unauthenticated client may announce (redis 7.0: 10).
pub const UNAUTH_MULTIBULK_MAX: i64 = 10;
/// Longest bulk an unauthenticated client may announce (redis 7.0: 16384).
pub const UNAUTH_BULK_MAX: i64 = 16 * 1024;

impl Request {
    /// Redis's pre-AUTH limits, checked on the headers already in `buf` before anything
    /// is buffered for them: more than 10 arguments or a bulk over 16 KiB is an error
    /// (`processMultibulkBuffer` with `authRequired`).
    ///
    /// # Errors
    /// [`ProtoError::UnauthenticatedMultibulk`] or [`ProtoError::UnauthenticatedBulk`].
    pub fn check_unauthenticated(buf: &[u8]) -> Result<(), ProtoError> {
        if buf.first() != Some(&b'*') {
            return Ok(());
        }
        let Ok(Some((count, mut at))) = decode_count_at(buf, 0) else {
            return Ok(());
        };
        if count > UNAUTH_MULTIBULK_MAX {
            return Err(ProtoError::UnauthenticatedMultibulk {
                count,
                max: UNAUTH_MULTIBULK_MAX,
            });
        }
        for _ in 0..count.max(0) {
            if buf.get(at) != Some(&b'$') {
                return Ok(());
            }
            let Ok(Some(cr)) = find_crlf(buf, at + 1, "bulk count", MAX_INLINE_LEN) else {
                return Ok(());
            };
            let Some(len) = parse_i64(&buf[at + 1..cr]) else {
                return Ok(());
            };
            if len > UNAUTH_BULK_MAX {
                return Err(ProtoError::UnauthenticatedBulk {
                    len,
                    max: UNAUTH_BULK_MAX,
                });
            }
            at = cr + 2 + usize::try_from(len.max(0)).unwrap_or(0) + 2;
        }
        Ok(())
    }
}

fn decode_multibulk(buf: &[u8]) -> Result<Option<(Request, usize)>, ProtoError> {
    let Some((count, mut at)) = decode_count_at(buf, 0)? else {
        return Ok(None);
    };
    // Mirrors processMultibulkBuffer: a count <= 0 is an empty request that is skipped.
    let count = usize::try_from(count).unwrap_or(0);
    let first = at;
    // Pass 1 validates the whole request and finds its end without allocating.
    for _ in 0..count {
        match buf.get(at) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&c) => return Err(ProtoError::ExpectedBulk { got: char::from(c) }),
        }
        match bulk_span_at(buf, at)? {
            None => return Ok(None),
            Some((None, _)) => return Err(ProtoError::BadBulkLen { text: "-1".into() }),
            Some((Some(_), next)) => at = next,
        }
    }
    // Pass 2: one copy of the request; the arguments are slices of it. A server keeps
    // keys and values and propagates them, and clones of slices are refcount bumps where
    // a clone of a separately copied argument allocates (psync-node's hottest cost).
    let frame = Bytes::copy_from_slice(&buf[..at]);
    let mut argv = Vec::with_capacity(count.min(PREALLOC_MAX));
    let mut pos = first;
    for _ in 0..count {
        if let Ok(Some((Some(span), next))) = bulk_span_at(buf, pos) {
            argv.push(frame.slice(span));
            pos = next;
        }
    }
    debug_assert_eq!((argv.len(), pos), (count, at), "pass 2 re-reads what pass 1 accepted");
    Ok(Some((Request { argv, inline: false }, at)))
}

fn decode_inline(buf: &[u8]) -> Result<Option<(Request, usize)>, ProtoError> {
    let Some(nl) = buf.iter().position(|&c| c == b'\n') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtoError::LineTooLong {
                what: "inline",
                len: buf.len(),
                max: MAX_INLINE_LEN,
            });
        }
        return Ok(None);
    };
    if nl > MAX_INLINE_LEN {
        return Err(ProtoError::LineTooLong {
            what: "inline",
            len: nl,
            max: MAX_INLINE_LEN,
        });
    }
    let mut text = &buf[..nl];
    if let Some(stripped) = text.strip_suffix(b"\r") {
        text = stripped;
    }
    let argv = split_args(text)?;
    Ok(Some((Request { argv, inline: true }, nl + 1)))
}

/// Splits an inline line like Redis's `sdssplitargs`: whitespace separated, with
/// `"..."` (C escapes, `\xHH`) and `'...'` (only `\'`) quoting.
fn split_args(line: &[u8]) -> Result<Vec<Bytes>, ProtoError> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Ok(out);
        }
        let (arg, next) = split_one(line, i)?;
        out.push(Bytes::from(arg));
        i = next;
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Reads one argument starting at `i`; returns it and the index after it.
fn split_one(line: &[u8], mut i: usize) -> Result<(Vec<u8>, usize), ProtoError> {
    let mut cur = Vec::new();
    let mut quote: Option<u8> = None;
    loop {
        let Some(&c) = line.get(i) else {
            return if quote.is_some() {
                Err(ProtoError::UnbalancedQuotes)
            } else {
                Ok((cur, i))
            };
        };
        match quote {
            None if c.is_ascii_whitespace() => return Ok((cur, i)),
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None => cur.push(c),
            Some(q) if c == q => {
                // A closing quote must be followed by a space or the end of the line.
                match line.get(i + 1) {
                    Some(n) if !n.is_ascii_whitespace() => return Err(ProtoError::UnbalancedQuotes),
                    _ => return Ok((cur, i + 1)),
                }
            }
            Some(b'"') if c == b'\\' => {
                i += escape(line, i, &mut cur);
                continue;
            }
            Some(_) if c == b'\\' && line.get(i + 1) == Some(&b'\'') => {
                cur.push(b'\'');
                i += 2;
                continue;
            }
            Some(_) => cur.push(c),
        }
        i += 1;
    }
}

/// Handles a backslash escape inside double quotes at `line[i]`; returns bytes consumed.
fn escape(line: &[u8], i: usize, cur: &mut Vec<u8>) -> usize {
    let next = line.get(i + 1).copied();
    if next == Some(b'x') {
        if let (Some(h), Some(l)) = (
            line.get(i + 2).copied().and_then(hex_val),
            line.get(i + 3).copied().and_then(hex_val),
        ) {
            cur.push(h * 16 + l);
            return 4;
        }
    }
    match next {
        Some(n) => {
            cur.push(match n {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'b' => 0x08,
                b'a' => 0x07,
                other => other,
            });
            2
        }
        None => {
            cur.push(b'\\');
            1
        }
    }
}

/// proptest strategies for frames and requests (STYLE §6).
#[cfg(any(test, feature = "proptest"))]
pub mod strategy {
    use super::*;
    use proptest::prelude::*;

    fn arb_line() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |c| *c != b'\r' && *c != b'\n'),
            0..24,
        )
        .prop_map(Bytes::from)
    }

    fn arb_blob() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..48).prop_map(Bytes::from)
    }

    /// Any RESP2 frame, nested a few levels.
    pub fn arb_frame() -> impl Strategy<Value = Frame> {
        let leaf = prop_oneof![
            arb_line().prop_map(Frame::Simple),
            arb_line().prop_map(Frame::Error),
            any::<i64>().prop_map(Frame::Integer),
            arb_blob().prop_map(Frame::Bulk),
            Just(Frame::Null),
            Just(Frame::NullArray),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(Frame::Array)
        })
    }

    /// A non-empty command as a client or master sends it (array of bulks).
    pub fn arb_argv() -> impl Strategy<Value = Vec<Bytes>> {
        proptest::collection::vec(arb_blob(), 1..6)
    }
}

#[cfg(test)]
mod tests {
    use super::strategy::*;
    use super::*;
    use proptest::prelude::*;

    fn req(s: &[u8]) -> (Vec<Bytes>, usize) {
        let (r, n) = Request::decode(s).expect("valid").expect("complete");
        (r.argv, n)
    }

    #[test]
    fn inline_ping_as_telnet_sends_it() {
        assert_eq!(req(b"PING\r\n"), (vec![Bytes::from("PING")], 6));
        assert_eq!(req(b"PING\n"), (vec![Bytes::from("PING")], 5));
        assert_eq!(Request::decode(b"PING").unwrap(), None);
    }

    #[test]
    fn bare_newline_is_an_empty_request_of_one_byte() {
        // R36 keepalives and the replica's `\n` while loading are 1-byte empty requests.
        assert_eq!(req(b"\n"), (vec![], 1));
        assert_eq!(req(b"\r\n"), (vec![], 2));
    }

    #[test]
    fn inline_quotes_follow_sdssplitargs() {
        let (argv, _) = req(b"SET \"a b\" 'c\\'d' \"\\x41\\n\"\r\n");
        assert_eq!(
            argv,
            vec![
                Bytes::from("SET"),
                Bytes::from("a b"),
                Bytes::from("c'd"),
                Bytes::from("A\n")
            ]
        );
        assert_eq!(Request::decode(b"SET \"a\r\n"), Err(ProtoError::UnbalancedQuotes));
        assert_eq!(Request::decode(b"SET \"a\"b\r\n"), Err(ProtoError::UnbalancedQuotes));
    }

    #[test]
    fn multibulk_counts_exact_bytes() {
        let bytes = b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$3\r\n265\r\n";
        let (argv, n) = req(bytes);
        assert_eq!(n, 36, "R57: an ACK is 36 bytes");
        assert_eq!(argv.len(), 3);
    }

    #[test]
    fn limits_are_typed_errors() {
        assert_eq!(
            Request::decode(b"*1\r\n$536870913\r\n"),
            Err(ProtoError::BulkTooLong {
                len: 536_870_913,
                max: MAX_BULK_LEN
            })
        );
        assert_eq!(
            Request::decode(b"*1048577\r\n"),
            Err(ProtoError::MultibulkTooLong {
                count: 1_048_577,
                max: MAX_MULTIBULK_LEN
            })
        );
        let long = vec![b'a'; MAX_INLINE_LEN + 1];
        assert!(matches!(
            Request::decode(&long),
            Err(ProtoError::LineTooLong { what: "inline", .. })
        ));
        let mut hdr = b"*".to_vec();
        hdr.extend(std::iter::repeat_n(b'1', MAX_INLINE_LEN + 1));
        assert!(matches!(Request::decode(&hdr), Err(ProtoError::LineTooLong { .. })));
        // A huge claimed count with no data is "need more" and allocates nothing big.
        assert_eq!(Request::decode(b"*1048576\r\n").unwrap(), None);
        assert_eq!(Request::decode(b"*1\r\n$536870912\r\nab").unwrap(), None);
    }

    #[test]
    fn malformed_multibulk_is_rejected() {
        assert_eq!(
            Request::decode(b"*1\r\n:1\r\n"),
            Err(ProtoError::ExpectedBulk { got: ':' })
        );
        assert!(matches!(
            Request::decode(b"*x\r\n"),
            Err(ProtoError::BadMultibulkLen { .. })
        ));
        assert!(matches!(
            Request::decode(b"*1\r\n$-5\r\n"),
            Err(ProtoError::BadBulkLen { .. })
        ));
        assert_eq!(
            Request::decode(b"*1\r\n$1\r\nab\r\n"),
            Err(ProtoError::MissingCrlf { what: "bulk" })
        );
        assert_eq!(req(b"*0\r\n"), (vec![], 4));
        assert_eq!(req(b"*-1\r\n"), (vec![], 5));
    }

    #[test]
    fn parse_i64_matches_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b""[..],
            b"-",
            b"01",
            b"-0",
            b"+1",
            b" 1",
            b"9223372036854775808",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "*1\r\n".repeat(MAX_FRAME_DEPTH + 1);
        assert_eq!(
            Frame::decode(deep.as_bytes()),
            Err(ProtoError::TooDeep { max: MAX_FRAME_DEPTH })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn frame_round_trip(f in arb_frame()) {
            let bytes = f.to_bytes();
            prop_assert_eq!(Frame::decode(&bytes)?, Some((f, bytes.len())));
        }

        #[test]
        fn frame_prefix_needs_more(f in arb_frame(), cut in any::<prop::sample::Index>()) {
            let bytes = f.to_bytes();
            let cut = cut.index(bytes.len());
            prop_assert_eq!(Frame::decode(&bytes[..cut])?, None);
        }

        #[test]
        fn command_round_trip_and_prefixes(argv in arb_argv(), cut in any::<prop::sample::Index>()) {
            let bytes = encode_command(&argv);
            let (r, n) = Request::decode(&bytes)?.expect("complete");
            prop_assert_eq!(&r.argv, &argv);
            prop_assert_eq!(n, bytes.len());
            prop_assert_eq!(Request::decode(&bytes[..cut.index(bytes.len())])?, None);
        }
    }

    proptest! {
        // FUZZ_CASES: ci/fuzz.sh runs 1 M.
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
        ))]

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Frame::decode(&bytes);
            let _ = Request::decode(&bytes);
        }

        #[test]
        fn decoded_lengths_never_exceed_input(bytes in proptest::collection::vec(
            prop_oneof![Just(b'*'), Just(b'$'), Just(b'\r'), Just(b'\n'), Just(b'1'), Just(b'-'), any::<u8>()], 0..64)) {
            if let Ok(Some((_, n))) = Request::decode(&bytes) { prop_assert!(n <= bytes.len()); }
            if let Ok(Some((_, n))) = Frame::decode(&bytes) { prop_assert!(n <= bytes.len()); }
        }
    }
}
