//! LZF (de)compression as used by RDB string encoding (`RDB_ENC_LZF`).
//!
//! Owns: the liblzf block format that Redis writes with `lzf_compress` and reads with
//! `lzf_decompress`. Hand-written because the crates.io lzf crates either bind C or are
//! unmaintained, and this format is small. Must never: panic or read/write out of bounds on
//! any input, or return output of a length other than the one the caller expects.
//!
//! Format: a control byte `ctrl < 32` starts a literal run of `ctrl + 1` bytes. Otherwise
//! `ctrl >> 5` is the match length minus 2 (7 means "add the next byte"), and the offset is
//! `((ctrl & 0x1f) << 8 | next_byte) + 1` bytes back from the current output position.

/// Longest literal run one control byte can announce (`ctrl` 0..=31).
const MAX_LITERAL: usize = 32;
/// Longest back reference: length code 7 plus an extra byte of 255, plus the implicit 2.
pub(crate) const MAX_MATCH: usize = 2 + 7 + 255;
/// Farthest back reference: 13 offset bits, plus the implicit 1.
const MAX_OFFSET: usize = 1 << 13;
/// Hash table size (log2): redis' `HLOG`; it shapes which matches are found.
const HASH_LOG: u32 = 16;
const HASH_MASK: u32 = (1 << HASH_LOG) - 1;

/// Decompresses `input`, which must expand to exactly `expected_len` bytes.
///
/// Returns `None` for any malformed input (a reference before the start of the output, a
/// truncated run, or a length other than `expected_len`) because the RDB loader turns that
/// into a typed corruption error rather than trusting the data.
pub(crate) fn decompress(input: &[u8], expected_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(expected_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < MAX_LITERAL {
            let run = input.get(ip..ip.checked_add(ctrl + 1)?)?;
            if out.len() + run.len() > expected_len {
                return None;
            }
            out.extend_from_slice(run);
            ip += run.len();
            continue;
        }
        let mut len = ctrl >> 5;
        if len == 7 {
            len += usize::from(*input.get(ip)?);
            ip += 1;
        }
        let low = usize::from(*input.get(ip)?);
        ip += 1;
        let distance = (((ctrl & 0x1f) << 8) | low) + 1;
        let len = len + 2;
        let start = out.len().checked_sub(distance)?;
        if out.len() + len > expected_len {
            return None;
        }
        // Byte by byte: a match may overlap the bytes it is producing (run-length style).
        for i in 0..len {
            let byte = *out.get(start + i)?;
            out.push(byte);
        }
    }
    (out.len() == expected_len).then_some(out)
}

/// Compresses `input` exactly as liblzf's `lzf_compress()` does in redis (`HLOG` 16,
/// `VERY_FAST`), so strings we write are byte-identical to the ones redis writes.
///
/// The hash table starts zeroed (liblzf's `INIT_HTAB`): redis leaves it uninitialised, but
/// every stale slot fails liblzf's own range checks or byte comparison, and position 0 is
/// never referenced (`ref > in_data`), so zero is the deterministic "empty".
///
/// Returns `None` when the output would not fit in `input.len() - 4` bytes, mirroring
/// `rdbSaveLzfStringObject()`, which then falls back to a raw string.
pub(crate) fn compress(input: &[u8]) -> Option<Vec<u8>> {
    let n = input.len();
    let budget = n.checked_sub(4).filter(|&b| b > 0)?;
    let mut table = vec![0usize; 1 << HASH_LOG];
    let mut run = Run::start(Vec::with_capacity(budget));
    let mut ip = 0usize;
    let mut hval = (u32::from(input[0]) << 8) | u32::from(input[1]);
    while ip + 2 < n {
        hval = (hval << 8) | u32::from(input[ip + 2]);
        let slot = hash_index(hval);
        let candidate = std::mem::replace(&mut table[slot], ip);
        let distance = ip - candidate; // candidate < ip: slots only hold earlier positions
        if distance <= MAX_OFFSET && candidate > 0 && input[candidate..candidate + 3] == input[ip..ip + 3] {
            run.close();
            if run.out.len() + 4 >= budget {
                return None;
            }
            let len = match_len(input, candidate, ip);
            emit_match(&mut run.out, len, distance);
            run = Run::start(run.out);
            ip += len;
            if ip + 2 >= n {
                break;
            }
            // VERY_FAST: re-hash only the last two positions the match covered.
            hval = (u32::from(input[ip - 2]) << 8) | u32::from(input[ip - 1]);
            for at in [ip - 2, ip - 1] {
                hval = (hval << 8) | u32::from(input[at + 2]);
                table[hash_index(hval)] = at;
            }
        } else {
            if run.out.len() >= budget {
                return None;
            }
            run.push(input[ip]);
            ip += 1;
        }
    }
    if run.out.len() + 3 > budget {
        return None;
    }
    for &byte in &input[ip..] {
        run.push(byte);
    }
    run.close();
    debug_assert!(run.out.len() <= budget, "lzf output {} > {budget}", run.out.len());
    Some(run.out)
}

/// Length of the match at `ip` against the earlier `candidate` (3 bytes already equal).
///
/// liblzf caps the scan at `maxlen = min(n - ip - 2, 264)`, but when `maxlen > 16` its
/// unrolled loop first checks 16 bytes unconditionally, so the effective cap is then
/// `max(maxlen, 19)`; reproduced so that tail matches come out byte-identical.
fn match_len(input: &[u8], candidate: usize, ip: usize) -> usize {
    let maxlen = (input.len() - ip - 2).min(MAX_MATCH);
    let cap = if maxlen > 16 { maxlen.max(19) } else { maxlen.max(3) };
    let mut len = 3;
    while len < cap && input[candidate + len] == input[ip + len] {
        len += 1;
    }
    len
}

/// liblzf's `IDX()` for `VERY_FAST`: only the low 24 bits of `hval` (the last 3 bytes)
/// reach the masked result.
fn hash_index(hval: u32) -> usize {
    let idx = ((hval >> (24 - HASH_LOG)).wrapping_sub(hval.wrapping_mul(5))) & HASH_MASK;
    // Masked to HASH_LOG (16) bits, so it always fits the table.
    idx as usize
}

/// The output buffer with an open literal run whose control byte is a placeholder, as
/// liblzf's `op++ /* start run */` ... `op[-lit-1] = lit-1 /* stop run */`.
struct Run {
    out: Vec<u8>,
    lit: usize,
}

impl Run {
    fn start(mut out: Vec<u8>) -> Run {
        out.push(0);
        Run { out, lit: 0 }
    }

    fn push(&mut self, byte: u8) {
        self.out.push(byte);
        self.lit += 1;
        if self.lit == MAX_LITERAL {
            self.close();
            self.out.push(0);
        }
    }

    /// Writes the run's control byte, or drops the placeholder of an empty run.
    fn close(&mut self) {
        let ctrl_at = self.out.len() - self.lit - 1;
        if self.lit == 0 {
            self.out.pop();
        } else {
            // lit is 1..=32, so lit - 1 fits the 5-bit literal control.
            self.out[ctrl_at] = (self.lit - 1) as u8;
        }
        self.lit = 0;
    }
}

/// Writes one back reference of `len` (3..=264) bytes from `distance` (1..=8192) back.
fn emit_match(out: &mut Vec<u8>, len: usize, distance: usize) {
    debug_assert!((3..=MAX_MATCH).contains(&len), "match length {len}");
    debug_assert!((1..=MAX_OFFSET).contains(&distance), "match distance {distance}");
    let code = len - 2;
    let off = distance - 1;
    // off < 8192, so off >> 8 fits the 5 low bits of the control byte.
    let off_high = (off >> 8) as u8;
    if code < 7 {
        out.push(((code as u8) << 5) | off_high);
    } else {
        out.push((7 << 5) | off_high);
        out.push((code - 7) as u8);
    }
    out.push((off & 0xff) as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The LZF string from the redis-server 7.0.15 vectors: key `long`.
    #[test]
    fn decompress_redis_vector_string() {
        let data = b"\x06hello h\xe0\x12\x05\x01o!";
        let out = decompress(data, 36).expect("valid vector");
        assert_eq!(out, b"hello hello hello hello hello hello!".to_vec());
    }

    /// Byte-identical to what redis-server 7.0.15 wrote for the same string.
    #[test]
    fn compress_matches_redis_bytes() {
        let out = compress(b"hello hello hello hello hello hello!");
        assert_eq!(out, Some(b"\x06hello h\xe0\x12\x05\x01o!".to_vec()));
    }

    /// A match that starts 18 bytes before the end has `maxlen` 16 exactly: liblzf's
    /// short loop (cap 16), not the unrolled one that would read past the input.
    #[test]
    fn matches_near_the_end_stay_inside_the_input() {
        for half in 10..40usize {
            let p: Vec<u8> = (0..half).map(|i| (i * 7 + 1) as u8).collect();
            let input = [p.clone(), p].concat();
            match compress(&input) {
                Some(out) => assert_eq!(decompress(&out, input.len()), Some(input), "half {half}"),
                None => assert!(half < 18, "half {half}: a repeat this long must pay"),
            }
        }
    }

    #[test]
    fn decompress_rejects_length_mismatch_and_bad_reference() {
        let data = b"\x06hello h\xe0\x12\x05\x01o!";
        assert_eq!(decompress(data, 35), None);
        assert_eq!(decompress(data, 37), None);
        // A back reference before any output.
        assert_eq!(decompress(b"\x20\x00", 3), None);
        // A truncated literal run and a truncated reference.
        assert_eq!(decompress(b"\x05abc", 6), None);
        assert_eq!(decompress(b"\x00a\xe0", 12), None);
    }

    #[test]
    fn compress_declines_when_saving_is_under_four_bytes() {
        assert_eq!(compress(b""), None);
        assert_eq!(compress(b"abcd"), None);
        assert_eq!(compress(b"abcdefghijklmnopqrstuvwxyz"), None);
        assert!(compress(&[b'a'; 100]).is_some());
    }

    proptest! {
        #[test]
        fn compress_then_decompress_round_trips(
            unit in proptest::collection::vec(any::<u8>(), 1..12),
            repeat in 1usize..400,
            noise in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut input: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * repeat).collect();
            input.extend_from_slice(&noise);
            if let Some(c) = compress(&input) {
                prop_assert!(c.len() + 4 <= input.len());
                prop_assert_eq!(decompress(&c, input.len()), Some(input));
            }
        }

        #[test]
        fn decompress_garbage_never_panics(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            expected in 0usize..2000,
        ) {
            if let Some(out) = decompress(&data, expected) {
                prop_assert_eq!(out.len(), expected);
            }
        }
    }
}
