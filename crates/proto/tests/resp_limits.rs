//! RESP line-length limits at their exact boundaries, and the reply texts a node answers
//! malformed requests with. A lying peer is cut off at `PROTO_INLINE_MAX_SIZE`; one byte
//! less must still be accepted (or rejected for what it says, not for its length).

use proto::resp::{Frame, ProtoError, Request, MAX_INLINE_LEN};

/// redis 7.0's `PROTO_INLINE_MAX_SIZE` (server.h): 64 KB.
const REDIS_INLINE_MAX: usize = 64 * 1024;

fn too_long(r: Result<impl std::fmt::Debug, ProtoError>) -> Option<&'static str> {
    match r {
        Err(ProtoError::LineTooLong { what, .. }) => Some(what),
        _ => None,
    }
}

#[test]
fn the_line_limit_is_redis_s() {
    assert_eq!(MAX_INLINE_LEN, REDIS_INLINE_MAX);
}

#[test]
fn a_simple_string_of_exactly_the_limit_decodes_and_one_more_byte_does_not() {
    for tag in [b'+', b'-'] {
        let mut at = vec![tag];
        at.extend(std::iter::repeat_n(b'x', MAX_INLINE_LEN));
        at.extend_from_slice(b"\r\n");
        let (frame, used) = Frame::decode(&at).expect("at the limit").expect("complete");
        assert_eq!(used, at.len());
        assert!(matches!(frame, Frame::Simple(ref b) | Frame::Error(ref b) if b.len() == MAX_INLINE_LEN));

        let mut over = vec![tag];
        over.extend(std::iter::repeat_n(b'x', MAX_INLINE_LEN + 1));
        over.extend_from_slice(b"\r\n");
        assert!(too_long(Frame::decode(&over)).is_some());
    }
}

#[test]
fn an_unterminated_line_waits_up_to_the_limit_then_fails() {
    let mut at = vec![b'+'];
    at.extend(std::iter::repeat_n(b'x', MAX_INLINE_LEN - 1));
    assert_eq!(Frame::decode(&at).expect("not yet too long"), None);
    at.push(b'x');
    assert_eq!(Frame::decode(&at).expect("exactly the limit still waits"), None);
    at.push(b'x');
    assert!(too_long(Frame::decode(&at)).is_some(), "limit + 1 without CR");
}

#[test]
fn count_lines_at_the_limit_fail_on_their_value_and_past_it_on_their_length() {
    // `prefix` then a count line of `n` digits. At exactly the limit it is not a number
    // redis accepts (leading zeros), so the error is about the value; one byte more and it
    // is about the length.
    let header = |prefix: &[u8], n: usize| -> Vec<u8> {
        let mut b = prefix.to_vec();
        b.extend(std::iter::repeat_n(b'0', n - 1).chain([b'1']));
        b.extend_from_slice(b"\r\n");
        b
    };
    assert!(matches!(
        Request::decode(&header(b"*", MAX_INLINE_LEN)),
        Err(ProtoError::BadMultibulkLen { .. })
    ));
    assert_eq!(
        too_long(Request::decode(&header(b"*", MAX_INLINE_LEN + 1))),
        Some("mbulk count")
    );

    // The same for a bulk count inside a request (its `$` is not at position 0).
    assert!(matches!(
        Request::decode(&header(b"*1\r\n$", MAX_INLINE_LEN)),
        Err(ProtoError::BadBulkLen { .. })
    ));
    assert_eq!(
        too_long(Request::decode(&header(b"*1\r\n$", MAX_INLINE_LEN + 1))),
        Some("bulk count")
    );

    // A reply array's element header is bounded the same way.
    assert!(matches!(
        Frame::decode(&header(b"*1\r\n:", MAX_INLINE_LEN)),
        Err(ProtoError::BadInteger { .. })
    ));
    assert!(too_long(Frame::decode(&header(b"*1\r\n:", MAX_INLINE_LEN + 1))).is_some());
}

/// The `-ERR <text>` a node writes before closing a client, as `processMultibulkBuffer`
/// and `processInlineBuffer` word it in redis 7.0 (networking.c).
#[test]
fn reply_texts_match_redis_networking_c() {
    let long = |what| ProtoError::LineTooLong { what, len: 0, max: 0 };
    let cases: Vec<(ProtoError, &str)> = vec![
        (
            ProtoError::BulkTooLong { len: 0, max: 0 },
            "Protocol error: invalid bulk length",
        ),
        (
            ProtoError::BadBulkLen { text: String::new() },
            "Protocol error: invalid bulk length",
        ),
        (
            ProtoError::MultibulkTooLong { count: 0, max: 0 },
            "Protocol error: invalid multibulk length",
        ),
        (
            ProtoError::BadMultibulkLen { text: String::new() },
            "Protocol error: invalid multibulk length",
        ),
        (long("inline"), "Protocol error: too big inline request"),
        (long("bulk count"), "Protocol error: too big bulk count string"),
        (long("mbulk count"), "Protocol error: too big mbulk count string"),
        (ProtoError::ExpectedBulk { got: 'x' }, "Protocol error: expected '$'"),
        (
            ProtoError::UnbalancedQuotes,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            ProtoError::UnauthenticatedMultibulk { count: 0, max: 0 },
            "Protocol error: unauthenticated multibulk length",
        ),
        (
            ProtoError::UnauthenticatedBulk { len: 0, max: 0 },
            "Protocol error: unauthenticated bulk length",
        ),
        (ProtoError::TooDeep { max: 0 }, "Protocol error: invalid request"),
    ];
    for (err, text) in cases {
        assert_eq!(err.redis_reply_text(), text, "{err:?}");
    }
}

#[test]
fn pre_auth_limits_are_redis_s_and_inclusive() {
    use proto::resp::{UNAUTH_BULK_MAX, UNAUTH_MULTIBULK_MAX};
    assert_eq!(
        (UNAUTH_MULTIBULK_MAX, UNAUTH_BULK_MAX),
        (10, 16384),
        "redis 7.0 networking.c"
    );
    let check = |b: &[u8]| Request::check_unauthenticated(b);
    assert_eq!(check(b"*10\r\n"), Ok(()));
    assert!(matches!(
        check(b"*11\r\n"),
        Err(ProtoError::UnauthenticatedMultibulk { count: 11, .. })
    ));
    assert_eq!(check(b"*1\r\n$16384\r\n"), Ok(()));
    assert!(matches!(
        check(b"*1\r\n$16385\r\n"),
        Err(ProtoError::UnauthenticatedBulk { len: 16385, .. })
    ));
    // Every announced bulk is checked, not only the first: skip exactly over each body.
    assert!(matches!(
        check(b"*3\r\n$3\r\nabc\r\n$1\r\nx\r\n$20000\r\n"),
        Err(ProtoError::UnauthenticatedBulk { len: 20000, .. })
    ));
    assert_eq!(check(b"*3\r\n$3\r\nabc\r\n$1\r\nx\r\n$16384\r\n"), Ok(()));
}

#[test]
fn an_inline_request_of_exactly_the_limit_is_read_one_more_byte_is_refused() {
    let mut line = vec![b'a'; MAX_INLINE_LEN];
    assert_eq!(Request::decode(&line).expect("waits"), None);
    line.push(b'\n');
    let (req, used) = Request::decode(&line).expect("at the limit").expect("complete");
    assert_eq!((req.argv.len(), used), (1, MAX_INLINE_LEN + 1));

    let mut over = vec![b'a'; MAX_INLINE_LEN + 1];
    assert_eq!(too_long(Request::decode(&over)), Some("inline"), "no newline yet");
    over.push(b'\n');
    assert_eq!(too_long(Request::decode(&over)), Some("inline"));
}

#[test]
fn errors_quote_the_offending_text_up_to_64_bytes() {
    match Request::decode(b"*1\r\n$12x\r\n") {
        Err(ProtoError::BadBulkLen { text }) => assert_eq!(text, "12x"),
        other => panic!("{other:?}"),
    }
    let mut long = b"*".to_vec();
    long.extend(std::iter::repeat_n(b'9', 100));
    long.extend_from_slice(b"x\r\n");
    match Request::decode(&long) {
        Err(ProtoError::BadMultibulkLen { text }) => assert_eq!(text, "9".repeat(64)),
        other => panic!("{other:?}"),
    }
}
