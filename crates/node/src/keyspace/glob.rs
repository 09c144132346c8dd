//! Glob matching for KEYS, byte-for-byte the semantics of redis 7.0 `stringmatchlen()`
//! (src/util.c) with `nocase = 0`.
//!
//! Redis' version recurses once per `*`; a pattern from the network could hold thousands of
//! them, so this one is iterative. That is exact, not an approximation: in 7.0.15 the
//! `skipLongerMatches` flag makes any exhausted `*` frame fail the whole match, so only the
//! innermost `*` ever resumes, and one remembered backtrack point is enough.

/// Outcome of running the pattern linearly until it ends or reaches a `*`.
enum Run {
    Matched,
    Failed,
    /// Stopped on a `*` at the current pattern index with string bytes left.
    Star,
}

/// Does `string` match the glob `pattern` the way redis' `stringmatchlen()` decides?
///
/// Quirks kept on purpose: an empty string never matches a non-empty pattern (not even
/// `*`; KEYS special-cases a lone `*`), ranges compare bytes as *signed* C chars, an
/// unterminated `[` runs to the end of the pattern, and a trailing `\` is a literal.
pub fn stringmatch(pattern: &[u8], string: &[u8]) -> bool {
    let mut pi = 0;
    let mut si = 0;
    // Innermost `*`: (pattern index after it, string index its latest attempt started at).
    let mut star: Option<(usize, usize)> = None;
    loop {
        match run(pattern, string, &mut pi, &mut si) {
            Run::Matched => return true,
            Run::Star => {
                // Mirrors `while (patternLen && pattern[1] == '*')`: collapse runs of stars.
                while byte(pattern, pi + 1) == b'*' {
                    pi += 1;
                }
                if pattern.len() - pi == 1 {
                    return true;
                }
                pi += 1;
                star = Some((pi, si));
            }
            Run::Failed => {
                let Some((star_pi, star_si)) = star else {
                    return false;
                };
                // The `*` frame tries every start while string bytes remain, then gives up.
                let next = star_si + 1;
                if next >= string.len() {
                    return false;
                }
                star = Some((star_pi, next));
                pi = star_pi;
                si = next;
            }
        }
    }
}

/// The pattern byte at `i`, or 0 past the end: sds strings are NUL-terminated and redis
/// reads that terminator in a few places.
fn byte(pattern: &[u8], i: usize) -> u8 {
    pattern.get(i).copied().unwrap_or(0)
}

/// The body of `stringmatchlen_impl()`'s `while (patternLen && stringLen)` loop, without
/// the `*` case.
fn run(pattern: &[u8], string: &[u8], pi: &mut usize, si: &mut usize) -> Run {
    while *pi < pattern.len() && *si < string.len() {
        let s = string.get(*si).copied().unwrap_or(0);
        match byte(pattern, *pi) {
            b'*' => return Run::Star,
            b'?' => {}
            b'[' => {
                if !bracket(pattern, pi, s) {
                    return Run::Failed;
                }
            }
            b'\\' => {
                if pattern.len() - *pi >= 2 {
                    *pi += 1;
                }
                if byte(pattern, *pi) != s {
                    return Run::Failed;
                }
            }
            literal => {
                if literal != s {
                    return Run::Failed;
                }
            }
        }
        *si += 1;
        *pi += 1;
        if *si == string.len() {
            while byte(pattern, *pi) == b'*' {
                *pi += 1;
            }
            break;
        }
    }
    debug_assert!(*pi <= pattern.len(), "pattern index {pi} ran past the pattern");
    if *pi == pattern.len() && *si == string.len() {
        Run::Matched
    } else {
        Run::Failed
    }
}

/// A `[...]` class against the byte `s`. On entry `pattern[*pi] == '['`; on exit `*pi` is on
/// the closing `]` (or the last pattern byte if there is none), like the C code.
fn bracket(pattern: &[u8], pi: &mut usize, s: u8) -> bool {
    *pi += 1;
    let negate = byte(pattern, *pi) == b'^';
    if negate {
        *pi += 1;
    }
    let mut matched = false;
    loop {
        let remaining = pattern.len().saturating_sub(*pi);
        let p = byte(pattern, *pi);
        if p == b'\\' && remaining >= 2 {
            *pi += 1;
            matched |= byte(pattern, *pi) == s;
        } else if p == b']' {
            break;
        } else if remaining == 0 {
            *pi -= 1;
            break;
        } else if remaining >= 3 && byte(pattern, *pi + 1) == b'-' {
            // `int start = pattern[0]` with a signed `char`: bytes >= 0x80 are negative.
            let mut start = i32::from(p as i8);
            let mut end = i32::from(byte(pattern, *pi + 2) as i8);
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            *pi += 2;
            matched |= (start..=end).contains(&i32::from(s as i8));
        } else {
            matched |= p == s;
        }
        *pi += 1;
    }
    matched != negate
}

#[cfg(test)]
mod tests {
    use super::stringmatch;

    fn m(p: &str, s: &str) -> bool {
        stringmatch(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", "abc"));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*c", "abbbc"));
        assert!(m("a**c", "ac"));
        assert!(m("*b*", "abc"));
        assert!(!m("a*d", "abc"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("*a*a*a*b", "aaaaaab"));
        assert!(!m("*a*a*a*b", "aaaaaaa"));
    }

    #[test]
    fn empty_string_never_matches_a_non_empty_pattern() {
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn classes_ranges_and_negation() {
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(!m("h[a-b]llo", "hcllo"));
        // `[a-]` is the range a..=']' (swapped) with the class left unterminated.
        assert!(m("[a-]", "a"));
        assert!(m("[a-]", "]"));
        assert!(!m("[a-]", "-"));
        assert!(!m("[]]", "]"), "an empty class matches nothing");
        assert!(!m("h[^e-]llo", "hallo"));
        assert!(m("[\\]]", "]"));
        assert!(m("[abc", "c"), "an unterminated class runs to the end");
        assert!(m("[^", "x"), "an empty negated class matches any byte");
    }

    #[test]
    fn ranges_compare_signed_bytes() {
        // 'a'..=0xff is really -1..=97 for a signed char, so 0x00 matches and 0xfe does not.
        assert!(stringmatch(b"[a-\xff]", b"\x00"));
        assert!(stringmatch(b"[a-\xff]", b"\xff"));
        assert!(!stringmatch(b"[a-\xff]", b"\xfe"));
        assert!(!stringmatch(b"[a-\xff]", b"b"));
    }

    #[test]
    fn backslash_escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?", "a?"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
    }

    #[test]
    fn long_star_patterns_do_not_recurse() {
        let pattern = "a*".repeat(100_000);
        let string = "a".repeat(100_000);
        assert!(stringmatch(pattern.as_bytes(), string.as_bytes()));
        let pattern = format!("{}b", "*a".repeat(50_000));
        assert!(!stringmatch(pattern.as_bytes(), string.as_bytes()));
    }
}
