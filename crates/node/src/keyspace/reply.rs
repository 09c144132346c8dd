//! Private RESP2 reply encoder for keyspace commands.
//!
//! Owns only the byte layout of the reply kinds the keyspace emits (simple string, error,
//! integer, bulk, null bulk, array of bulks). It deliberately does not use `proto::resp`:
//! keyspace replies must stay byte-identical to redis-server 7.0 whatever that codec becomes.

/// `+OK\r\n`, the `shared.ok` reply.
pub(crate) const OK: &[u8] = b"+OK\r\n";
/// `+PONG\r\n`, the `shared.pong` reply.
pub(crate) const PONG: &[u8] = b"+PONG\r\n";
/// `:1\r\n`, the `shared.cone` reply.
pub(crate) const ONE: &[u8] = b":1\r\n";
/// `:0\r\n`, the `shared.czero` reply.
pub(crate) const ZERO: &[u8] = b":0\r\n";
/// `$-1\r\n`, the RESP2 null bulk (`shared.null[2]`).
pub(crate) const NULL_BULK: &[u8] = b"$-1\r\n";

/// A status reply (`addReplyStatus`). The caller guarantees there is no CR or LF inside.
pub(crate) fn simple(text: &[u8]) -> Vec<u8> {
    debug_assert!(
        !text.iter().any(|b| *b == b'\r' || *b == b'\n'),
        "status replies must not contain CR/LF"
    );
    let mut out = Vec::with_capacity(text.len() + 3);
    out.push(b'+');
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
    out
}

/// An error reply `-<code> <message>\r\n`.
///
/// Mirrors `addReplyErrorFormat()`: CR and LF are trimmed from both ends of the message
/// and any left inside become spaces, because user bytes (an option name) can end up in
/// the text and a raw CR/LF would break the protocol.
pub(crate) fn error(code: &[u8], message: &[u8]) -> Vec<u8> {
    let is_crlf = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = message.iter().position(|b| !is_crlf(b)).unwrap_or(message.len());
    let end = message.iter().rposition(|b| !is_crlf(b)).map_or(start, |i| i + 1);
    let trimmed = message.get(start..end).unwrap_or_default();
    let mut out = Vec::with_capacity(code.len() + trimmed.len() + 4);
    out.push(b'-');
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend(trimmed.iter().map(|b| if is_crlf(b) { b' ' } else { *b }));
    out.extend_from_slice(b"\r\n");
    out
}

/// An integer reply `:<n>\r\n`.
pub(crate) fn integer(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

/// A bulk string reply `$<len>\r\n<bytes>\r\n`.
pub(crate) fn bulk(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    push_bulk(&mut out, data);
    out
}

/// An array of bulk strings, the shape of a KEYS reply.
pub(crate) fn array_of_bulks<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        push_bulk(&mut out, item);
    }
    out
}

/// An array whose elements are bulks or null bulks, the shape of an MGET reply.
pub(crate) fn array_of_optional_bulks<'a>(items: impl ExactSizeIterator<Item = Option<&'a [u8]>>) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        match item {
            Some(data) => push_bulk(&mut out, data),
            None => out.extend_from_slice(NULL_BULK),
        }
    }
    out
}

/// An array of status replies, the shape of a DEBUG DIGEST-VALUE reply.
pub(crate) fn array_of_simple(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(&simple(item));
    }
    out
}

fn push_bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_reply_kind() {
        assert_eq!(simple(b"OK"), b"+OK\r\n");
        assert_eq!(integer(-2), b":-2\r\n");
        assert_eq!(bulk(b""), b"$0\r\n\r\n");
        assert_eq!(bulk(b"hi"), b"$2\r\nhi\r\n");
        let keys: [&[u8]; 2] = [b"a", b"bc"];
        assert_eq!(array_of_bulks(keys.into_iter()), b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n");
        assert_eq!(array_of_bulks(std::iter::empty()), b"*0\r\n");
        assert_eq!(array_of_simple(&[b"ab".to_vec()]), b"*1\r\n+ab\r\n");
        let items: [Option<&[u8]>; 2] = [Some(b"a"), None];
        assert_eq!(array_of_optional_bulks(items.into_iter()), b"*2\r\n$1\r\na\r\n$-1\r\n");
    }

    #[test]
    fn error_text_is_sanitised_like_add_reply_error_format() {
        assert_eq!(error(b"ERR", b"syntax error"), b"-ERR syntax error\r\n");
        assert_eq!(
            error(b"ERR", b"Unsupported option a\r\nb"),
            b"-ERR Unsupported option a  b\r\n"
        );
        assert_eq!(
            error(b"ERR", b"Unsupported option a\r\n"),
            b"-ERR Unsupported option a\r\n"
        );
        assert_eq!(error(b"ERR", b"\r\n"), b"-ERR \r\n");
    }
}
