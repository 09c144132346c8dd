//! Keyspace commands beyond the basics: RENAME, RENAMENX, TYPE, SCAN, TIME. Mirrors
//! src/db.c and src/server.c of redis 7.0.15; SCAN's order is this module's own (below).

use bytes::Bytes;

use super::exec::Exec;
use super::parse::{cstr, is_opt, string2ll};
use super::{glob, reply, CommandError};

fn arg(argv: &[Bytes], i: usize) -> &Bytes {
    argv.get(i).expect("arity was checked before the handler ran")
}

/// `renameGenericCommand()`: a missing source is an error even when source and
/// destination are the same key; the same key is otherwise a no-op (not propagated). The
/// destination gets the source's TTL (`getExpire()`, so a stored -1 is no TTL). Propagated
/// as sent.
fn rename_generic(ctx: &mut Exec<'_>, argv: &[Bytes], nx: bool) -> Result<Vec<u8>, CommandError> {
    let (src, dst) = (arg(argv, 1), arg(argv, 2));
    let Some(entry) = ctx.lookup(src) else {
        return Err(CommandError::NoSuchKey);
    };
    let done = if nx { reply::ONE } else { reply::OK };
    if src == dst {
        return Ok(if nx { reply::ZERO } else { reply::OK }.to_vec());
    }
    let expire = entry.redis_get_expire();
    if ctx.lookup(dst).is_some() && nx {
        return Ok(reply::ZERO.to_vec());
    }
    let moved = super::Entry::new(entry.value, (expire != -1).then_some(expire));
    let mut db = ctx.db_map_mut();
    db.remove(src);
    db.insert(dst.clone(), moved);
    ctx.propagate_command(argv.to_vec());
    Ok(done.to_vec())
}

/// RENAME key newkey.
pub(crate) fn rename(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    rename_generic(ctx, argv, false)
}

/// RENAMENX key newkey.
pub(crate) fn renamenx(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    rename_generic(ctx, argv, true)
}

/// TYPE key: `string` or `none` (the only type stored here); lazy expiry applies.
pub(crate) fn type_(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let name: &[u8] = if ctx.lookup(arg(argv, 1)).is_some() {
        b"string"
    } else {
        b"none"
    };
    Ok(reply::simple(name))
}

/// TIME: unix seconds and microseconds of the injected clock (`now_ms`), so it is
/// deterministic in the simulation; the microseconds are whole milliseconds.
pub(crate) fn time(ctx: &mut Exec<'_>, _: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let (secs, millis) = (ctx.now_ms.div_euclid(1000), ctx.now_ms.rem_euclid(1000));
    let (secs, micros) = (secs.to_string(), (millis * 1000).to_string());
    let parts: [&[u8]; 2] = [secs.as_bytes(), micros.as_bytes()];
    Ok(reply::array_of_bulks(parts.into_iter()))
}

/// `parseScanCursorOrReply()`: `strtoul(s, &end, 10)` that must consume everything up to
/// the C string's end and not start with a space. So the empty string is cursor 0, `+5`
/// is 5 and `-1` wraps to `u64::MAX`, as in redis.
fn parse_cursor(raw: &[u8]) -> Result<u64, CommandError> {
    let s = cstr(raw);
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if !digits.iter().all(u8::is_ascii_digit) || (digits.is_empty() && !s.is_empty()) {
        return Err(CommandError::InvalidCursor);
    }
    let mut value: u64 = 0;
    for d in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(CommandError::InvalidCursor)?;
    }
    Ok(if negative { value.wrapping_neg() } else { value })
}

/// SCAN's position of a key: a fixed 64-bit hash (FNV-1a with a murmur finaliser).
fn scan_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// SCAN options: COUNT (at least 1, default 10), MATCH, TYPE.
struct ScanOptions<'a> {
    count: usize,
    pattern: Option<&'a Bytes>,
    type_name: Option<&'a Bytes>,
}

fn parse_scan_options(argv: &[Bytes]) -> Result<ScanOptions<'_>, CommandError> {
    let mut o = ScanOptions {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = 2;
    while let Some(opt) = argv.get(i) {
        let value = argv.get(i + 1).ok_or(CommandError::Syntax)?;
        if is_opt(opt, "count") {
            let n = string2ll(value).ok_or(CommandError::NotAnInteger)?;
            o.count = usize::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or(CommandError::Syntax)?;
        } else if is_opt(opt, "match") {
            o.pattern = Some(value);
        } else if is_opt(opt, "type") {
            o.type_name = Some(value);
        } else {
            return Err(CommandError::Syntax);
        }
        i += 2;
    }
    Ok(o)
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
///
/// Redis walks its hash table with a reverse-binary cursor; here keys are visited in the
/// order of [`scan_hash`] and the cursor is the hash to resume from (0: start / done). A
/// call takes the next COUNT keys (and any with the same hash, so a page never splits a
/// hash), which keeps redis's guarantee: a key present for the whole iteration is returned
/// at least once, whatever else is added or removed. Deterministic, and the same set of
/// keys as redis (only the order and cursors differ). Filters run as in
/// `scanGenericCommand()`: MATCH, then TYPE (a lookup, so lazy expiry), then expiry
/// (a master deletes and propagates `DEL key` for an expired key it returns).
pub(crate) fn scan(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let cursor = parse_cursor(arg(argv, 1))?;
    let opts = parse_scan_options(argv)?;
    let mut candidates: Vec<(u64, Bytes)> = ctx
        .db_map()
        .keys()
        .map(|k| (scan_hash(k), k.clone()))
        .filter(|(h, _)| *h >= cursor)
        .collect();
    candidates.sort_unstable();
    let mut take = opts.count.min(candidates.len());
    if let Some(last) = take.checked_sub(1).and_then(|i| candidates.get(i)).map(|c| c.0) {
        while candidates.get(take).is_some_and(|c| c.0 == last) {
            take += 1;
        }
    }
    let next = candidates.get(take).map_or(0, |c| c.0);
    candidates.truncate(take);
    let mut keys = Vec::new();
    for (_, key) in candidates {
        let all = opts.pattern.is_none_or(|p| p.as_ref() == b"*");
        if !all && !opts.pattern.is_some_and(|p| glob::stringmatch(p, &key)) {
            continue;
        }
        if let Some(want) = opts.type_name {
            let have: &[u8] = if ctx.lookup(&key).is_some() { b"string" } else { b"none" };
            if !cstr(want).eq_ignore_ascii_case(have) {
                continue;
            }
        }
        if ctx.expire_if_needed(&key) {
            continue;
        }
        keys.push(key);
    }
    let cursor = next.to_string();
    let mut out = b"*2\r\n".to_vec();
    out.extend_from_slice(&reply::bulk(cursor.as_bytes()));
    out.extend_from_slice(&reply::array_of_bulks(keys.iter().map(|k| k.as_ref())));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"1\x00x"), Ok(1));
        for bad in [&b" 1"[..], b"1 ", b"x", b"18446744073709551616", b"-", b"+"] {
            assert_eq!(parse_cursor(bad), Err(CommandError::InvalidCursor), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod scan_tests {
    use crate::keyspace::{Keyspace, Origin, Role};
    use bytes::Bytes;
    use std::collections::BTreeSet;

    fn call(ks: &mut Keyspace, args: &[&str]) -> Vec<u8> {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        let mut db = 0;
        ks.execute(&mut db, &argv, 1_000, Role::Master, Origin::Client)
            .expect("keyspace command")
            .reply
    }

    /// (cursor, keys) of a SCAN reply.
    fn parse(reply: &[u8]) -> (u64, Vec<String>) {
        let text = String::from_utf8_lossy(reply).into_owned();
        let lines: Vec<&str> = text.split("\r\n").collect();
        let cursor = lines[2].parse().expect("cursor");
        let keys = lines[4..].iter().skip(1).step_by(2).map(|s| s.to_string()).collect();
        (cursor, keys)
    }

    /// Redis's SCAN guarantee under concurrent changes: every key present from start to
    /// end is returned; the pages are deterministic (same calls, same replies).
    #[test]
    fn scan_returns_every_stable_key_while_others_come_and_go() {
        let run = || {
            let mut ks = Keyspace::new();
            for i in 0..200 {
                call(&mut ks, &["SET", &format!("k{i}"), "v"]);
            }
            let (mut cursor, mut seen, mut pages) = (0u64, BTreeSet::new(), Vec::new());
            for round in 0.. {
                let reply = call(&mut ks, &["SCAN", &cursor.to_string(), "COUNT", "7"]);
                pages.push(reply.clone());
                let (next, keys) = parse(&reply);
                seen.extend(keys);
                // Churn: delete keys >= 150 and add new ones while iterating.
                call(&mut ks, &["DEL", &format!("k{}", 150 + round % 50)]);
                call(&mut ks, &["SET", &format!("new{round}"), "v"]);
                cursor = next;
                if cursor == 0 {
                    break;
                }
                assert!(round < 1000, "SCAN did not finish");
            }
            (seen, pages)
        };
        let (seen, pages) = run();
        for i in 0..150 {
            assert!(seen.contains(&format!("k{i}")), "k{i} never returned");
        }
        assert!(pages.len() >= 20, "{} pages: COUNT 7 must paginate", pages.len());
        assert_eq!(run().1, pages, "SCAN is deterministic");
    }
}
