//! Connection and keyspace-wide commands: PING, ECHO, SELECT, DEL, EXISTS, DBSIZE,
//! FLUSHDB, FLUSHALL, KEYS, DEBUG DIGEST / DIGEST-VALUE. Mirrors src/server.c, src/db.c
//! and src/debug.c of redis 7.0.15.

use bytes::Bytes;

use super::exec::Exec;
use super::parse::{cstr, is_opt, string2ll};
use super::{digest, glob, reply, CommandError, DB_COUNT};

/// Redis prints the DEBUG subcommand with `%.128s`.
const SUBCOMMAND_PRINT_MAX: usize = 128;

/// `argv[i]`; the arity check has already guaranteed it exists.
fn arg(argv: &[Bytes], i: usize) -> &Bytes {
    argv.get(i).expect("arity was checked before the handler ran")
}

/// PING [message]. Arity is -1, so `pingCommand()` itself rejects a third argument.
pub(crate) fn ping(_: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    match argv {
        [_] => Ok(reply::PONG.to_vec()),
        [_, message] => Ok(reply::bulk(message)),
        _ => Err(CommandError::WrongArity("ping")),
    }
}

/// ECHO message.
pub(crate) fn echo(_: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    Ok(reply::bulk(arg(argv, 1)))
}

/// SELECT index: an `int` first (`getIntFromObjectOrReply()`), then a valid database.
pub(crate) fn select(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let index = string2ll(arg(argv, 1)).ok_or(CommandError::NotAnInteger)?;
    let index = i32::try_from(index).map_err(|_| CommandError::NotAnInt)?;
    let db = usize::try_from(index).ok().filter(|db| *db < DB_COUNT);
    ctx.db = db.ok_or(CommandError::DbIndexOutOfRange)?;
    Ok(reply::OK.to_vec())
}

/// DEL key [key ...]: expired keys are expired first (and so not counted).
pub(crate) fn del(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let mut deleted = 0i64;
    for key in argv.iter().skip(1) {
        ctx.expire_if_needed(key);
        if ctx.db_map_mut().remove(key).is_some() {
            deleted += 1;
        }
    }
    if deleted > 0 {
        ctx.propagate_command(argv.to_vec());
    }
    Ok(reply::integer(deleted))
}

/// EXISTS key [key ...]: a repeated key counts each time.
pub(crate) fn exists(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let mut count = 0i64;
    for key in argv.iter().skip(1) {
        if ctx.lookup(key).is_some() {
            count += 1;
        }
    }
    Ok(reply::integer(count))
}

/// DBSIZE: the dictionary size, so logically expired keys still count.
pub(crate) fn dbsize(ctx: &mut Exec<'_>, _: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let size = i64::try_from(ctx.db_map().len()).unwrap_or(i64::MAX);
    Ok(reply::integer(size))
}

/// `getFlushCommandFlags()`: nothing, or exactly one of SYNC / ASYNC.
fn check_flush_args(argv: &[Bytes]) -> Result<(), CommandError> {
    match argv {
        [_] => Ok(()),
        [_, mode] if is_opt(mode, "sync") || is_opt(mode, "async") => Ok(()),
        _ => Err(CommandError::Syntax),
    }
}

/// FLUSHDB [ASYNC|SYNC]: always propagated, even when the db was already empty
/// (`forceCommandPropagation()`).
pub(crate) fn flushdb(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    check_flush_args(argv)?;
    ctx.db_map_mut().clear();
    ctx.propagate_command(argv.to_vec());
    Ok(reply::OK.to_vec())
}

/// FLUSHALL [ASYNC|SYNC]: always propagated, in the client's selected db.
pub(crate) fn flushall(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    check_flush_args(argv)?;
    ctx.keyspace_mut().clear();
    ctx.propagate_command(argv.to_vec());
    Ok(reply::OK.to_vec())
}

/// KEYS pattern: skips logically expired keys without deleting them (`keyIsExpired()`),
/// sorted by key (redis uses dict order; sorted is the deterministic choice).
pub(crate) fn keys(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let pattern = arg(argv, 1);
    // A lone `*` is special-cased in keysCommand(): it also lists the empty key, which
    // stringmatchlen() would not match.
    let all = pattern.as_ref() == b"*";
    let now = ctx.now_ms;
    let found: Vec<&[u8]> = ctx
        .db_map()
        .iter()
        .filter(|(key, entry)| (all || glob::stringmatch(pattern, key)) && !entry.is_expired(now))
        .map(|(key, _)| key.as_ref())
        .collect();
    Ok(reply::array_of_bulks(found.into_iter()))
}

/// DEBUG DIGEST and DEBUG DIGEST-VALUE; any other subcommand gets redis' generic
/// subcommand error, as the sim has no use for the rest of DEBUG.
pub(crate) fn debug(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let sub = arg(argv, 1);
    if is_opt(sub, "digest") && argv.len() == 2 {
        let hex = ctx.keyspace().digest_hex();
        return Ok(reply::simple(hex.as_bytes()));
    }
    if is_opt(sub, "digest-value") {
        // Uses dictFind(), not lookupKey(): logically expired keys are digested too.
        let digests: Vec<Vec<u8>> = argv
            .iter()
            .skip(2)
            .map(|key| {
                let mut d = [0u8; 20];
                if let Some(entry) = ctx.db_map().get(key) {
                    digest::value_digest(&mut d, entry);
                }
                hex::encode(d).into_bytes()
            })
            .collect();
        return Ok(reply::array_of_simple(&digests));
    }
    let shown = cstr(sub);
    Err(CommandError::UnknownSubcommand {
        subcommand: shown.get(..SUBCOMMAND_PRINT_MAX).unwrap_or(shown).to_vec(),
        command: cstr(arg(argv, 0)).to_ascii_uppercase(),
    })
}
