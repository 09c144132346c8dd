//! Argument parsing exactly as redis-server 7.0 does it (`string2ll`, C-string option
//! comparison). Owns no state; every function is pure.

/// Mirrors `LONG_STR_SIZE`: `string2ll()` rejects inputs of 21 bytes or more up front.
const LONG_STR_SIZE: usize = 21;

/// Parses a signed 64-bit integer exactly like redis' `string2ll()`.
///
/// Stricter than `str::parse`: no `+` sign, no leading zeros, no `-0`, no spaces, at most
/// 20 bytes. Getting this wrong would accept `INCRBY k 01` that redis rejects.
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    // Same grammar as the wire's integers (proto's `parse_i64`), plus redis's length cap.
    if s.len() >= LONG_STR_SIZE {
        return None;
    }
    proto::resp::parse_i64(s)
}

/// The prefix of `arg` up to its first NUL byte.
///
/// Redis compares option words with `strcasecmp()` / `opt[2] == '\0'` on the sds pointer,
/// so `NX\0junk` *is* `NX` to redis; this reproduces that.
pub(crate) fn cstr(arg: &[u8]) -> &[u8] {
    arg.iter()
        .position(|b| *b == 0)
        .map_or(arg, |i| arg.get(..i).unwrap_or(arg))
}

/// `strcasecmp(arg, word) == 0` for an ASCII `word`.
pub(crate) fn is_opt(arg: &[u8], word: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_matches_redis_edge_cases() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1.5",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
            b"1\x00",
        ] {
            assert_eq!(string2ll(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn options_compare_as_c_strings() {
        assert!(is_opt(b"nx", "NX"));
        assert!(is_opt(b"Nx\x00junk", "NX"));
        assert!(!is_opt(b"nxx", "NX"));
        assert_eq!(cstr(b"a\x00b"), b"a");
    }
}
