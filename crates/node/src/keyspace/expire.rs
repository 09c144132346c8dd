//! TTL commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST, TTL, PTTL.
//! Mirrors src/expire.c of redis 7.0.15, including the PEXPIREAT / DEL propagation rewrite.

use bytes::Bytes;

use super::exec::Exec;
use super::parse::{cstr, is_opt, string2ll};
use super::{reply, CommandError, Role};

fn arg(argv: &[Bytes], i: usize) -> &Bytes {
    argv.get(i).expect("arity was checked before the handler ran")
}

/// The four EXPIRE-family commands differ only in base time and unit.
#[derive(Clone, Copy)]
struct ExpireVariant {
    name: &'static str,
    relative: bool,
    seconds: bool,
}

/// EXPIRE key seconds [NX|XX|GT|LT].
pub(crate) fn expire(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    expire_generic(
        ctx,
        argv,
        ExpireVariant {
            name: "expire",
            relative: true,
            seconds: true,
        },
    )
}

/// PEXPIRE key milliseconds [NX|XX|GT|LT].
pub(crate) fn pexpire(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    expire_generic(
        ctx,
        argv,
        ExpireVariant {
            name: "pexpire",
            relative: true,
            seconds: false,
        },
    )
}

/// EXPIREAT key unix-seconds [NX|XX|GT|LT].
pub(crate) fn expireat(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    expire_generic(
        ctx,
        argv,
        ExpireVariant {
            name: "expireat",
            relative: false,
            seconds: true,
        },
    )
}

/// PEXPIREAT key unix-ms [NX|XX|GT|LT].
pub(crate) fn pexpireat(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    expire_generic(
        ctx,
        argv,
        ExpireVariant {
            name: "pexpireat",
            relative: false,
            seconds: false,
        },
    )
}

#[derive(Default, Clone, Copy)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// `parseExtendedExpireArgumentsOrReply()`: runs before the time is even parsed, so
/// `EXPIRE k abc foo` reports the option, not the integer.
fn parse_expire_flags(argv: &[Bytes]) -> Result<ExpireFlags, CommandError> {
    let mut f = ExpireFlags::default();
    for opt in argv.iter().skip(3) {
        if is_opt(opt, "nx") {
            f.nx = true;
        } else if is_opt(opt, "xx") {
            f.xx = true;
        } else if is_opt(opt, "gt") {
            f.gt = true;
        } else if is_opt(opt, "lt") {
            f.lt = true;
        } else {
            return Err(CommandError::UnsupportedOption(cstr(opt).to_vec()));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(CommandError::ExpireNxConflict);
    }
    if f.gt && f.lt {
        return Err(CommandError::ExpireGtLtConflict);
    }
    Ok(f)
}

/// The absolute expiry in ms; negative results are allowed (EXPIRE accepts negative TTLs).
fn absolute_when(v: ExpireVariant, raw: &[u8], now_ms: i64) -> Result<i64, CommandError> {
    let invalid = CommandError::InvalidExpireTime(v.name);
    let mut when = string2ll(raw).ok_or(CommandError::NotAnInteger)?;
    if v.seconds {
        when = when.checked_mul(1000).ok_or(invalid.clone())?;
    }
    let base = if v.relative { now_ms } else { 0 };
    when.checked_add(base).ok_or(invalid)
}

/// Does the NX/XX/GT/LT condition let the new expiry through? `current` is redis'
/// `getExpire()` value, -1 for none (treated as an infinite TTL by GT and LT).
fn flags_allow(f: ExpireFlags, current: i64, when: i64) -> bool {
    let none = current == -1;
    !((f.nx && !none) || (f.xx && none) || (f.gt && (when <= current || none)) || (f.lt && !none && when >= current))
}

/// `expireGenericCommand()`.
///
/// On a master a time already past deletes the key and propagates `DEL key`
/// (`checkAlreadyExpired()`); a replica stores the past time and waits for the DEL. A
/// stored TTL propagates as `PEXPIREAT key <abs ms> [flags]`, keeping `argv[0]` as sent
/// when the command already was PEXPIREAT, and `argv[2]` as sent when it was absolute ms.
fn expire_generic(ctx: &mut Exec<'_>, argv: &[Bytes], v: ExpireVariant) -> Result<Vec<u8>, CommandError> {
    let flags = parse_expire_flags(argv)?;
    let when = absolute_when(v, arg(argv, 2), ctx.now_ms)?;
    let key = arg(argv, 1);
    let Some(entry) = ctx.lookup(key) else {
        return Ok(reply::integer(0));
    };
    if !flags_allow(flags, entry.redis_get_expire(), when) {
        return Ok(reply::integer(0));
    }
    if when <= ctx.now_ms && ctx.role == Role::Master {
        ctx.db_map_mut().remove(key);
        ctx.propagate_del(key.clone());
        return Ok(reply::integer(1));
    }
    ctx.db_map_mut().set_expire(key, Some(when));
    let mut rewritten = argv.to_vec();
    if let (Some(name), true) = (rewritten.get_mut(0), v.name != "pexpireat") {
        *name = Bytes::from_static(b"PEXPIREAT");
    }
    if let (Some(time), true) = (rewritten.get_mut(2), v.relative || v.seconds) {
        *time = Bytes::from(when.to_string());
    }
    ctx.propagate_command(rewritten);
    Ok(reply::integer(1))
}

/// PERSIST key: 1 only if a TTL was actually removed (only then is it propagated).
pub(crate) fn persist(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let key = arg(argv, 1);
    let had_ttl = ctx.lookup(key).is_some_and(|e| e.expire_ms.is_some());
    if !had_ttl {
        return Ok(reply::integer(0));
    }
    ctx.db_map_mut().set_expire(key, None);
    ctx.propagate_command(argv.to_vec());
    Ok(reply::integer(1))
}

/// `ttlGenericCommand()`: -2 missing, -1 no TTL, else the remaining time clamped at 0;
/// seconds are rounded to nearest (`(ttl+500)/1000`).
fn ttl_generic(ctx: &mut Exec<'_>, argv: &[Bytes], output_ms: bool) -> Result<Vec<u8>, CommandError> {
    let Some(entry) = ctx.lookup(arg(argv, 1)) else {
        return Ok(reply::integer(-2));
    };
    let expire = entry.redis_get_expire();
    if expire == -1 {
        return Ok(reply::integer(-1));
    }
    let ttl = expire.saturating_sub(ctx.now_ms).max(0);
    Ok(reply::integer(if output_ms {
        ttl
    } else {
        ttl.saturating_add(500) / 1000
    }))
}

/// TTL key.
pub(crate) fn ttl(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    ttl_generic(ctx, argv, false)
}

/// PTTL key.
pub(crate) fn pttl(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    ttl_generic(ctx, argv, true)
}
