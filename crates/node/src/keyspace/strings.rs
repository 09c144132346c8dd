//! String commands: SET, SETNX, SETEX, PSETEX, GET, GETSET, GETDEL, GETEX, INCR, DECR,
//! INCRBY, DECRBY, APPEND, STRLEN. Mirrors src/t_string.c of redis 7.0.15, including how
//! each write is rewritten for propagation (R72: never a relative or second-based expiry).

use bytes::Bytes;

use super::exec::Exec;
use super::parse::{is_opt, string2ll};
use super::{reply, CommandError, Entry, Origin, Role};

fn arg(argv: &[Bytes], i: usize) -> &Bytes {
    argv.get(i).expect("arity was checked before the handler ran")
}

/// Which expire option SET was given; the value is the raw argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    Exat,
    Pxat,
}

/// `parseExtendedStringArgumentsOrReply()`'s `command_type`: which options are allowed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CommandType {
    /// SET: NX, XX, GET, KEEPTTL and the expiries.
    Set,
    /// GETEX: PERSIST and the expiries.
    Get,
}

/// Parsed SET / GETEX options (`parseExtendedStringArgumentsOrReply()`).
#[derive(Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a Bytes)>,
}

/// Parses the options from `argv[from]` on. Repeating the same option is allowed (the
/// last EX value wins); combining exclusive ones, or an option of the other command type,
/// is a syntax error, as is an EX without value.
fn parse_options(argv: &[Bytes], from: usize, ty: CommandType) -> Result<SetOptions<'_>, CommandError> {
    let mut o = SetOptions::default();
    let set = ty == CommandType::Set;
    let mut j = from;
    while let Some(opt) = argv.get(j) {
        let next = argv.get(j + 1);
        let kind = o.expire.map(|(k, _)| k);
        let other_expire = |k: ExpireKind| o.keepttl || o.persist || kind.is_some_and(|have| have != k);
        if set && is_opt(opt, "nx") && !o.xx {
            o.nx = true;
        } else if set && is_opt(opt, "xx") && !o.nx {
            o.xx = true;
        } else if set && is_opt(opt, "get") {
            o.get = true;
        } else if set && is_opt(opt, "keepttl") && kind.is_none() {
            o.keepttl = true;
        } else if !set && is_opt(opt, "persist") && kind.is_none() {
            o.persist = true;
        } else if let Some(k) = expire_word(opt).filter(|k| !other_expire(*k)) {
            let value = next.ok_or(CommandError::Syntax)?;
            o.expire = Some((k, value));
            j += 1;
        } else {
            return Err(CommandError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

fn expire_word(opt: &[u8]) -> Option<ExpireKind> {
    [
        ("ex", ExpireKind::Ex),
        ("px", ExpireKind::Px),
        ("exat", ExpireKind::Exat),
        ("pxat", ExpireKind::Pxat),
    ]
    .into_iter()
    .find(|(word, _)| is_opt(opt, word))
    .map(|(_, kind)| kind)
}

/// `getExpireMillisecondsOrReply()`: the absolute expiry in ms, or 'invalid expire time'
/// naming `command`.
fn expire_at_ms(kind: ExpireKind, raw: &[u8], now_ms: i64, command: &'static str) -> Result<i64, CommandError> {
    let invalid = CommandError::InvalidExpireTime(command);
    let value = string2ll(raw).ok_or(CommandError::NotAnInteger)?;
    let seconds = matches!(kind, ExpireKind::Ex | ExpireKind::Exat);
    if value <= 0 || (seconds && value > i64::MAX / 1000) {
        return Err(invalid);
    }
    let ms = if seconds { value * 1000 } else { value };
    // Redis adds with signed overflow and then rejects a result <= 0; checked_add is the
    // same test without the undefined behaviour.
    let ms = match kind {
        ExpireKind::Ex | ExpireKind::Px => ms.checked_add(now_ms).ok_or(invalid)?,
        ExpireKind::Exat | ExpireKind::Pxat => ms,
    };
    Ok(ms)
}

/// One `setGenericCommand()` call: what to store, and the replies for "set" and "not set".
struct SetCall<'a> {
    key: &'a Bytes,
    value: &'a Bytes,
    opts: SetOptions<'a>,
    /// The command name for 'invalid expire time in ...'.
    name: &'static str,
    ok: &'static [u8],
    abort: &'static [u8],
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
pub(crate) fn set(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let opts = parse_options(argv, 3, CommandType::Set)?;
    let (key, value) = (arg(argv, 1), arg(argv, 2));
    let call = SetCall {
        key,
        value,
        opts,
        name: "set",
        ok: reply::OK,
        abort: reply::NULL_BULK,
    };
    set_generic(ctx, argv, call)
}

/// SETNX key value: `:1` if set, `:0` if the key exists. Propagated as sent.
pub(crate) fn setnx(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let call = SetCall {
        key: arg(argv, 1),
        value: arg(argv, 2),
        opts: SetOptions {
            nx: true,
            ..SetOptions::default()
        },
        name: "setnx",
        ok: reply::ONE,
        abort: reply::ZERO,
    };
    set_generic(ctx, argv, call)
}

/// SETEX key seconds value / PSETEX key milliseconds value: propagated as
/// `SET key value PXAT <ms>` (R72).
fn setex_generic(
    ctx: &mut Exec<'_>,
    argv: &[Bytes],
    kind: ExpireKind,
    name: &'static str,
) -> Result<Vec<u8>, CommandError> {
    let call = SetCall {
        key: arg(argv, 1),
        value: arg(argv, 3),
        opts: SetOptions {
            expire: Some((kind, arg(argv, 2))),
            ..SetOptions::default()
        },
        name,
        ok: reply::OK,
        abort: reply::NULL_BULK,
    };
    set_generic(ctx, argv, call)
}

/// SETEX key seconds value.
pub(crate) fn setex(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    setex_generic(ctx, argv, ExpireKind::Ex, "setex")
}

/// PSETEX key milliseconds value.
pub(crate) fn psetex(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    setex_generic(ctx, argv, ExpireKind::Px, "psetex")
}

/// `setGenericCommand()`.
///
/// Propagation: any expire option becomes `SET key value PXAT <ms>` (flags dropped);
/// otherwise GET arguments are removed and the rest is kept as sent.
fn set_generic(ctx: &mut Exec<'_>, argv: &[Bytes], call: SetCall<'_>) -> Result<Vec<u8>, CommandError> {
    let SetCall { key, value, opts, .. } = call;
    let expire_ms = match opts.expire {
        Some((kind, raw)) => Some(expire_at_ms(kind, raw, ctx.now_ms, call.name)?),
        None => None,
    };
    // Redis never needs this: its protocol parser already refuses bulks longer than
    // proto-max-bulk-len. It guards the keyspace against a node decoder configured looser
    // than the keyspace's limit, with the error redis would use for a too-long string.
    check_string_length(ctx, value.len(), 0)?;
    let mut out = Vec::new();
    if opts.get {
        out = get_reply(ctx, key);
    }
    let found = ctx.lookup(key);
    if (opts.nx && found.is_some()) || (opts.xx && found.is_none()) {
        return Ok(if opts.get { out } else { call.abort.to_vec() });
    }
    let kept_ttl = if opts.keepttl {
        found.and_then(|e| e.expire_ms)
    } else {
        None
    };
    let entry = Entry::new(value.clone(), expire_ms.or(kept_ttl));
    ctx.db_map_mut().insert(key.clone(), entry);
    if ctx.propagates() {
        ctx.propagate_command(set_propagation(argv, key, value, expire_ms, opts.get));
    }
    if !opts.get {
        out = call.ok.to_vec();
    }
    Ok(out)
}

fn set_propagation(argv: &[Bytes], key: &Bytes, value: &Bytes, expire_ms: Option<i64>, get: bool) -> Vec<Bytes> {
    if let Some(ms) = expire_ms {
        return vec![
            Bytes::from_static(b"SET"),
            key.clone(),
            value.clone(),
            Bytes::from_static(b"PXAT"),
            Bytes::from(ms.to_string()),
        ];
    }
    if !get {
        return argv.to_vec();
    }
    argv.iter()
        .enumerate()
        .filter(|(j, a)| *j < 3 || !is_opt(a, "get"))
        .map(|(_, a)| a.clone())
        .collect()
}

/// GETSET key value: the old value, then a plain SET (the TTL is dropped); propagated as
/// `SET key value`.
pub(crate) fn getset(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let (key, value) = (arg(argv, 1), arg(argv, 2));
    let out = get_reply(ctx, key);
    ctx.db_map_mut().insert(key.clone(), Entry::new(value.clone(), None));
    ctx.propagate_command(vec![Bytes::from_static(b"SET"), key.clone(), value.clone()]);
    Ok(out)
}

/// GETDEL key: the value, then the key is deleted and `DEL key` propagated.
pub(crate) fn getdel(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let key = arg(argv, 1);
    let out = get_reply(ctx, key);
    if ctx.db_map_mut().remove(key).is_some() {
        ctx.propagate_command(vec![Bytes::from_static(b"DEL"), key.clone()]);
    }
    Ok(out)
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]: options are parsed first, the key is
/// looked up (missing: nil, whatever the expiry), then the expiry is validated.
///
/// Never propagated as sent: an absolute time already past deletes the key (`DEL key`,
/// masters only, as `checkAlreadyExpired()`), an expiry becomes `PEXPIREAT key <ms>`, and
/// PERSIST of a key with a TTL becomes `PERSIST key`.
pub(crate) fn getex(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let opts = parse_options(argv, 2, CommandType::Get)?;
    let key = arg(argv, 1);
    let Some(entry) = ctx.lookup(key) else {
        return Ok(reply::NULL_BULK.to_vec());
    };
    let when = match opts.expire {
        Some((kind, raw)) => Some((kind, expire_at_ms(kind, raw, ctx.now_ms, "getex")?)),
        None => None,
    };
    let out = reply::bulk(&entry.value);
    match when {
        Some((ExpireKind::Exat | ExpireKind::Pxat, ms)) if ms <= ctx.now_ms && ctx.role == Role::Master => {
            ctx.db_map_mut().remove(key);
            ctx.propagate_command(vec![Bytes::from_static(b"DEL"), key.clone()]);
        }
        Some((_, ms)) => {
            ctx.db_map_mut().set_expire(key, Some(ms));
            let when = Bytes::from(ms.to_string());
            ctx.propagate_command(vec![Bytes::from_static(b"PEXPIREAT"), key.clone(), when]);
        }
        None if opts.persist && entry.expire_ms.is_some() => {
            ctx.db_map_mut().set_expire(key, None);
            ctx.propagate_command(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
        }
        None => {}
    }
    Ok(out)
}

/// The GET reply for `key` (`getGenericCommand()`), expiring it first if needed.
fn get_reply(ctx: &mut Exec<'_>, key: &[u8]) -> Vec<u8> {
    match ctx.lookup(key) {
        Some(entry) => reply::bulk(&entry.value),
        None => reply::NULL_BULK.to_vec(),
    }
}

/// GET key.
pub(crate) fn get(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    Ok(get_reply(ctx, arg(argv, 1)))
}

/// STRLEN key.
pub(crate) fn strlen(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let len = ctx.lookup(arg(argv, 1)).map_or(0, |e| e.value.len());
    Ok(reply::integer(i64::try_from(len).unwrap_or(i64::MAX)))
}

/// `checkStringLength()`: `size + append` must fit proto-max-bulk-len, except for the
/// master link (`mustObeyClient()`): a replica must apply whatever its master accepted.
fn check_string_length(ctx: &Exec<'_>, size: usize, append: usize) -> Result<(), CommandError> {
    if ctx.origin == Origin::MasterLink {
        return Ok(());
    }
    let total = u64::try_from(size)
        .ok()
        .zip(u64::try_from(append).ok())
        .and_then(|(a, b)| a.checked_add(b));
    match total {
        Some(total) if total <= ctx.max_bulk_len() => Ok(()),
        _ => Err(CommandError::StringTooLong),
    }
}

/// APPEND key value: creates the key if missing; the TTL is kept. Always propagated as
/// sent, even when appending an empty string.
pub(crate) fn append(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let (key, suffix) = (arg(argv, 1), arg(argv, 2));
    let entry = match ctx.lookup(key) {
        None => Entry::new(suffix.clone(), None),
        Some(old) => {
            check_string_length(ctx, old.value.len(), suffix.len())?;
            let value = Bytes::from([old.value.as_ref(), suffix.as_ref()].concat());
            Entry::new(value, old.expire_ms)
        }
    };
    let len = i64::try_from(entry.value.len()).unwrap_or(i64::MAX);
    ctx.db_map_mut().insert(key.clone(), entry);
    ctx.propagate_command(argv.to_vec());
    Ok(reply::integer(len))
}

/// `incrDecrCommand()`: the stored value must parse with `string2ll()`; a missing key is 0.
/// The TTL is kept. Propagated as sent.
fn incr_decr(ctx: &mut Exec<'_>, argv: &[Bytes], incr: i64) -> Result<Vec<u8>, CommandError> {
    let key = arg(argv, 1);
    let old = ctx.lookup(key);
    let value = match &old {
        Some(entry) => string2ll(&entry.value).ok_or(CommandError::NotAnInteger)?,
        None => 0,
    };
    let value = value.checked_add(incr).ok_or(CommandError::IncrOverflow)?;
    let entry = Entry::new(Bytes::from(value.to_string()), old.and_then(|e| e.expire_ms));
    ctx.db_map_mut().insert(key.clone(), entry);
    ctx.propagate_command(argv.to_vec());
    Ok(reply::integer(value))
}

/// INCR key.
pub(crate) fn incr(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    incr_decr(ctx, argv, 1)
}

/// DECR key.
pub(crate) fn decr(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    incr_decr(ctx, argv, -1)
}

/// INCRBY key increment: the increment is parsed before the key is looked up.
pub(crate) fn incrby(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let incr = string2ll(arg(argv, 2)).ok_or(CommandError::NotAnInteger)?;
    incr_decr(ctx, argv, incr)
}

/// DECRBY key decrement: `i64::MIN` cannot be negated and has its own error.
pub(crate) fn decrby(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let decr = string2ll(arg(argv, 2)).ok_or(CommandError::NotAnInteger)?;
    let incr = decr.checked_neg().ok_or(CommandError::DecrOverflow)?;
    incr_decr(ctx, argv, incr)
}
