//! The master→replica byte stream: handshake reply lines, the RDB transfer in its two
//! framings, keepalive newlines, then the command stream.
//!
//! Owns: knowing which of those comes next, and exact byte counts for each item.
//! Must never: count out-of-band bytes as stream bytes (that is the caller's job, using the
//! item kind; R73), buffer more RDB than `rdb_max`, or panic on input.

use bytes::Bytes;

use crate::resp::{ProtoError, Request, MAX_INLINE_LEN};

/// Length of the diskless EOF mark (`CONFIG_RUN_ID_SIZE`).
pub const EOF_MARK_LEN: usize = 40;

/// How an RDB transfer is framed (R31, R32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdbFraming {
    /// `$<len>\r\n` then exactly `len` bytes, no trailing CRLF (disk transfer).
    Length(u64),
    /// `$EOF:<40 bytes>\r\n`, payload, then the same 40 bytes (diskless transfer).
    EofMark([u8; EOF_MARK_LEN]),
}

/// One item read from a master link, with the bytes it took in the decode call's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkItem {
    /// A handshake reply line without its line ending (`+PONG`, `-NOAUTH ...`,
    /// `+FULLRESYNC <id> <off>`, `+CONTINUE <id>`), read as `syncReadLine` reads it.
    Line(Bytes),
    /// A bare `\n` (or `\r\n`) the master sends while it prepares an RDB (R36, R46).
    Keepalive,
    /// A complete RDB transfer; `payload` excludes the preamble and the EOF mark.
    Rdb { framing: RdbFraming, payload: Bytes },
    /// A command of the replication stream (R54); its byte count is stream bytes.
    Command(Request),
}

/// What the decoder expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPhase {
    /// Handshake reply lines, until `+FULLRESYNC` or `+CONTINUE`.
    Replies,
    /// The RDB preamble (`$...`), possibly after keepalive newlines or an error line.
    RdbPreamble,
    /// Commands of the replication stream.
    Stream,
}

/// Incremental decoder for a master link. Feed it the unconsumed buffer; it returns one
/// item and how many bytes it used, or `None` when it needs more bytes.
#[derive(Debug, Clone)]
pub struct LinkDecoder {
    phase: LinkPhase,
    rdb_max: u64,
    /// EOF-mark search resumes here so trickling input is not rescanned (no O(n²)).
    eof_scan_from: usize,
}

impl LinkDecoder {
    /// A decoder at the start of a connection, accepting RDB transfers up to `rdb_max` bytes.
    pub fn new(rdb_max: u64) -> Self {
        LinkDecoder {
            phase: LinkPhase::Replies,
            rdb_max,
            eof_scan_from: 0,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> LinkPhase {
        self.phase
    }

    /// Forces the next item to be an RDB preamble: used after the replica fell back to
    /// `SYNC`, which gets no `+FULLRESYNC` line (R26, R46).
    pub fn expect_rdb(&mut self) {
        self.phase = LinkPhase::RdbPreamble;
        self.eof_scan_from = 0;
    }

    /// Switches straight to the command stream (a replica resuming after `+CONTINUE`
    /// does this implicitly; exposed for callers that start mid-stream).
    pub fn expect_stream(&mut self) {
        self.phase = LinkPhase::Stream;
    }

    /// Decodes the next item from the start of `buf`.
    ///
    /// # Errors
    /// A typed [`ProtoError`] when the bytes cannot be a valid item in this phase; the
    /// link should then be closed.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Option<(LinkItem, usize)>, ProtoError> {
        match self.phase {
            LinkPhase::Replies => self.decode_reply(buf),
            LinkPhase::RdbPreamble => self.decode_rdb(buf),
            LinkPhase::Stream => Ok(Request::decode(buf)?.map(|(r, n)| (LinkItem::Command(r), n))),
        }
    }

    fn decode_reply(&mut self, buf: &[u8]) -> Result<Option<(LinkItem, usize)>, ProtoError> {
        let Some((line, n)) = read_line(buf)? else {
            return Ok(None);
        };
        if line.is_empty() {
            return Ok(Some((LinkItem::Keepalive, n)));
        }
        if line.starts_with(b"+FULLRESYNC") {
            self.expect_rdb();
        } else if line.starts_with(b"+CONTINUE") {
            self.phase = LinkPhase::Stream;
        }
        Ok(Some((LinkItem::Line(Bytes::copy_from_slice(line)), n)))
    }

    fn decode_rdb(&mut self, buf: &[u8]) -> Result<Option<(LinkItem, usize)>, ProtoError> {
        let Some((line, n)) = read_line(buf)? else {
            return Ok(None);
        };
        // R48: empty line = keepalive; `-` = error reply (the caller aborts).
        if line.is_empty() {
            return Ok(Some((LinkItem::Keepalive, n)));
        }
        if line.starts_with(b"-") {
            return Ok(Some((LinkItem::Line(Bytes::copy_from_slice(line)), n)));
        }
        let framing = parse_preamble(line, self.rdb_max)?;
        let body = &buf[n..];
        let done = match &framing {
            RdbFraming::Length(len) => {
                // len <= rdb_max was checked; it fits in usize where rdb_max does.
                let len = usize::try_from(*len).map_err(|_| ProtoError::RdbTooLong {
                    len: *len,
                    max: self.rdb_max,
                })?;
                (body.len() >= len).then(|| (Bytes::copy_from_slice(&body[..len]), n + len))
            }
            RdbFraming::EofMark(mark) => self
                .find_mark(body, mark)?
                .map(|at| (Bytes::copy_from_slice(&body[..at]), n + at + EOF_MARK_LEN)),
        };
        match done {
            None => Ok(None),
            Some((payload, used)) => {
                self.phase = LinkPhase::Stream;
                self.eof_scan_from = 0;
                Ok(Some((LinkItem::Rdb { framing, payload }, used)))
            }
        }
    }

    fn find_mark(&mut self, body: &[u8], mark: &[u8; EOF_MARK_LEN]) -> Result<Option<usize>, ProtoError> {
        let from = self.eof_scan_from.min(body.len());
        if let Some(i) = body[from..].windows(EOF_MARK_LEN).position(|w| w == mark) {
            return Ok(Some(from + i));
        }
        if body.len() as u64 > self.rdb_max + EOF_MARK_LEN as u64 {
            return Err(ProtoError::RdbTooLong {
                len: body.len() as u64,
                max: self.rdb_max,
            });
        }
        self.eof_scan_from = body.len().saturating_sub(EOF_MARK_LEN - 1);
        Ok(None)
    }
}

/// Reads a `\n`-terminated line, stripping an optional `\r`, as `syncReadLine` does.
fn read_line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ProtoError> {
    let Some(nl) = buf.iter().position(|&c| c == b'\n') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtoError::LineTooLong {
                what: "reply",
                len: buf.len(),
                max: MAX_INLINE_LEN,
            });
        }
        return Ok(None);
    };
    let line = &buf[..nl];
    Ok(Some((line.strip_suffix(b"\r").unwrap_or(line), nl + 1)))
}

/// Parses `$EOF:<mark>` or `$<len>` (R48).
fn parse_preamble(line: &[u8], rdb_max: u64) -> Result<RdbFraming, ProtoError> {
    let bad = || ProtoError::BadPreamble {
        line: String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned(),
    };
    let rest = line.strip_prefix(b"$").ok_or_else(bad)?;
    if let Some(mark) = rest.strip_prefix(b"EOF:") {
        let mark: [u8; EOF_MARK_LEN] = mark
            .get(..EOF_MARK_LEN)
            .and_then(|m| m.try_into().ok())
            .ok_or_else(bad)?;
        return Ok(RdbFraming::EofMark(mark));
    }
    let len = crate::resp::parse_i64(rest).ok_or_else(bad)?;
    let len = u64::try_from(len).map_err(|_| bad())?;
    if len > rdb_max {
        return Err(ProtoError::RdbTooLong { len, max: rdb_max });
    }
    Ok(RdbFraming::Length(len))
}
