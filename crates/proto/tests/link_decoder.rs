//! The master-link decoder item by item and at its limits: phases (R46, R48), both RDB
//! framings fed whole and one byte at a time (R31, R32), the `rdb_max` bound, and the
//! reply-line limit. The replica core relies on each count being exact (R73).

use proto::resp::MAX_INLINE_LEN;
use proto::stream::{LinkDecoder, LinkItem, LinkPhase, RdbFraming, EOF_MARK_LEN};
use proto::{ProtoError, ReplId};

const MARK: &[u8; 40] = b"0123456789abcdef0123456789abcdef01234567";

/// Decodes `input` fed one byte at a time, as a trickling socket would deliver it.
fn trickle(d: &mut LinkDecoder, input: &[u8]) -> Vec<(LinkItem, usize)> {
    let mut items = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for &b in input {
        buf.push(b);
        while let Some((item, n)) = d.decode(&buf).expect("valid input") {
            items.push((item, n));
            buf.drain(..n);
        }
    }
    assert!(buf.is_empty(), "left over: {buf:?}");
    items
}

#[test]
fn phases_follow_the_replies() {
    let mut d = LinkDecoder::new(1 << 20);
    assert_eq!(d.phase(), LinkPhase::Replies);
    let (item, n) = d.decode(b"+PONG\r\n").unwrap().unwrap();
    assert_eq!((item, n), (LinkItem::Line("+PONG".into()), 7));
    assert_eq!(d.decode(b"\n").unwrap(), Some((LinkItem::Keepalive, 1)));
    assert_eq!(d.decode(b"+OK").unwrap(), None, "no line end yet");
    d.decode(b"+FULLRESYNC x 0\r\n").unwrap();
    assert_eq!(d.phase(), LinkPhase::RdbPreamble);

    let mut d = LinkDecoder::new(1 << 20);
    d.decode(b"+CONTINUE\r\n").unwrap();
    assert_eq!(d.phase(), LinkPhase::Stream);
    let (item, n) = d.decode(b"*1\r\n$4\r\nPING\r\n").unwrap().unwrap();
    assert!(matches!(item, LinkItem::Command(ref r) if r.argv == vec![bytes::Bytes::from("PING")]));
    assert_eq!(n, 14);

    // SYNC gets no +FULLRESYNC: the caller asks for the RDB directly; a resumed stream
    // may start mid-connection.
    let mut d = LinkDecoder::new(1 << 20);
    d.expect_rdb();
    assert_eq!(d.phase(), LinkPhase::RdbPreamble);
    d.expect_stream();
    assert_eq!(d.phase(), LinkPhase::Stream);
}

#[test]
fn a_length_framed_rdb_is_exactly_its_length_then_the_stream() {
    let payload = b"REDIS0010-payload";
    let mut input = format!("\n\n${}\r\n", payload.len()).into_bytes();
    input.extend_from_slice(payload);
    input.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    for whole in [true, false] {
        let mut d = LinkDecoder::new(1 << 20);
        d.expect_rdb();
        let items = if whole {
            let mut items = Vec::new();
            let mut at = 0;
            while let Some((item, n)) = d.decode(&input[at..]).unwrap() {
                items.push((item, n));
                at += n;
            }
            assert_eq!(at, input.len());
            items
        } else {
            trickle(&mut d, &input)
        };
        let header = format!("${}\r\n", payload.len()).len();
        assert_eq!(
            items[..3],
            [
                (LinkItem::Keepalive, 1),
                (LinkItem::Keepalive, 1),
                (
                    LinkItem::Rdb {
                        framing: RdbFraming::Length(payload.len() as u64),
                        payload: payload[..].into(),
                    },
                    header + payload.len()
                ),
            ]
        );
        assert!(matches!(items[3], (LinkItem::Command(_), 14)), "{:?}", items[3]);
    }
}

#[test]
fn an_eof_marked_rdb_ends_at_its_mark_even_when_it_arrives_in_pieces() {
    // The payload itself holds a near-copy of the mark (one byte off) to be skipped.
    let mut payload = b"REDIS0010".to_vec();
    payload.extend_from_slice(&MARK[..EOF_MARK_LEN - 1]);
    payload.push(b'X');
    payload.extend_from_slice(b"tail");
    let mut input = b"$EOF:".to_vec();
    input.extend_from_slice(MARK);
    input.extend_from_slice(b"\r\n");
    input.extend_from_slice(&payload);
    input.extend_from_slice(MARK);
    input.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let want = (
        LinkItem::Rdb {
            framing: RdbFraming::EofMark(*MARK),
            payload: payload.clone().into(),
        },
        5 + EOF_MARK_LEN + 2 + payload.len() + EOF_MARK_LEN,
    );
    let mut d = LinkDecoder::new(1 << 20);
    d.expect_rdb();
    let items = trickle(&mut d, &input);
    assert_eq!(items[0], want);
    assert!(matches!(items[1], (LinkItem::Command(_), 14)));
    // In three chunks: the mark split across the second and third.
    let mut d = LinkDecoder::new(1 << 20);
    d.expect_rdb();
    let cut = input.len() - 14 - 20;
    assert_eq!(d.decode(&input[..20]).unwrap(), None);
    assert_eq!(d.decode(&input[..cut]).unwrap(), None);
    assert_eq!(d.decode(&input).unwrap(), Some(want));
}

#[test]
fn rdb_max_bounds_both_framings_inclusively() {
    let max = 64u64;
    // Length framing: `$64` is allowed, `$65` refused at the preamble.
    let mut d = LinkDecoder::new(max);
    d.expect_rdb();
    let mut ok = b"$64\r\n".to_vec();
    ok.extend(std::iter::repeat_n(b'r', 64));
    assert!(matches!(d.decode(&ok).unwrap(), Some((LinkItem::Rdb { .. }, 69))));
    let mut d = LinkDecoder::new(max);
    d.expect_rdb();
    assert!(matches!(
        d.decode(b"$65\r\n"),
        Err(ProtoError::RdbTooLong { len: 65, max: 64 })
    ));
    // EOF framing: a body of max + 40 bytes without the mark may still end with it;
    // one byte more cannot.
    let mut pre = b"$EOF:".to_vec();
    pre.extend_from_slice(MARK);
    pre.extend_from_slice(b"\r\n");
    let mut d = LinkDecoder::new(max);
    d.expect_rdb();
    let mut body = pre.clone();
    body.extend(std::iter::repeat_n(b'r', (max as usize) + EOF_MARK_LEN));
    assert_eq!(d.decode(&body).unwrap(), None);
    body.push(b'r');
    assert!(matches!(d.decode(&body), Err(ProtoError::RdbTooLong { .. })));
    // Exactly max payload bytes and the mark: accepted.
    let mut d = LinkDecoder::new(max);
    d.expect_rdb();
    let mut exact = pre.clone();
    exact.extend(std::iter::repeat_n(b'r', max as usize));
    exact.extend_from_slice(MARK);
    assert!(matches!(
        d.decode(&exact).unwrap(),
        Some((LinkItem::Rdb { ref payload, .. }, n)) if payload.len() == 64 && n == exact.len()
    ));
}

#[test]
fn preambles_redis_never_sends_are_refused() {
    for bad in [&b"$-1\r\n"[..], b"$abc\r\n", b"$EOF:short\r\n", b"*3\r\n", b"$+5\r\n"] {
        let mut d = LinkDecoder::new(1 << 20);
        d.expect_rdb();
        assert!(
            matches!(d.decode(bad), Err(ProtoError::BadPreamble { .. })),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // An error line instead of the preamble goes to the caller, which aborts (R48).
    let mut d = LinkDecoder::new(1 << 20);
    d.expect_rdb();
    assert_eq!(
        d.decode(b"-ERR no\r\n").unwrap(),
        Some((LinkItem::Line("-ERR no".into()), 9))
    );
}

#[test]
fn a_reply_line_may_wait_up_to_the_limit() {
    let mut d = LinkDecoder::new(1 << 20);
    let mut line = vec![b'+'; MAX_INLINE_LEN];
    assert_eq!(d.decode(&line).unwrap(), None, "exactly the limit, no newline yet");
    line.push(b'+');
    assert!(matches!(d.decode(&line), Err(ProtoError::LineTooLong { .. })));
    // A line ending in a bare `\n` is as good as `\r\n` (syncReadLine).
    let mut d = LinkDecoder::new(1 << 20);
    assert_eq!(d.decode(b"+OK\n").unwrap(), Some((LinkItem::Line("+OK".into()), 4)));
}

#[test]
fn replication_ids_are_lowercase_hex_of_their_20_bytes_and_compare_case_blind() {
    let mut raw = [0u8; 20];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(0x0f);
    }
    let id = ReplId::from_random(raw);
    let want: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(id.as_str(), want);
    assert!(id.eq_ignore_case(want.to_uppercase().as_bytes()));
    assert!(!id.eq_ignore_case(&want.as_bytes()[1..]));
    assert!(!id.eq_ignore_case(ReplId::from_random([0; 20]).as_str().as_bytes()));
}
