//! Multi-key string commands: MSET, MSETNX, MGET. Mirrors `msetGenericCommand()` and
//! `mgetCommand()` of redis 7.0.15 (src/t_string.c).

use bytes::Bytes;

use super::exec::Exec;
use super::{reply, CommandError, Entry};

/// `msetGenericCommand()`: an even argc is an arity error (checked by the command, after
/// the table's `-3`); MSETNX sets nothing and replies `:0` if any key is live (lazy expiry
/// runs on each key looked at, so expired keys before the first live one are DELeted).
/// Every key is stored without a TTL; propagated as sent.
fn mset_generic(ctx: &mut Exec<'_>, argv: &[Bytes], nx: bool, name: &'static str) -> Result<Vec<u8>, CommandError> {
    if argv.len().is_multiple_of(2) {
        return Err(CommandError::WrongArity(name));
    }
    let pairs = argv.get(1..).unwrap_or_default().chunks_exact(2);
    if nx {
        for pair in pairs.clone() {
            if ctx.lookup(&pair[0]).is_some() {
                return Ok(reply::ZERO.to_vec());
            }
        }
    }
    for pair in pairs {
        let entry = Entry::new(pair[1].clone(), None);
        ctx.db_map_mut().insert(pair[0].clone(), entry);
    }
    ctx.propagate_command(argv.to_vec());
    Ok(if nx { reply::ONE } else { reply::OK }.to_vec())
}

/// MSET key value [key value ...].
pub(crate) fn mset(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    mset_generic(ctx, argv, false, "mset")
}

/// MSETNX key value [key value ...].
pub(crate) fn msetnx(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    mset_generic(ctx, argv, true, "msetnx")
}

/// MGET key [key ...]: a bulk per live key, nil for the others.
pub(crate) fn mget(ctx: &mut Exec<'_>, argv: &[Bytes]) -> Result<Vec<u8>, CommandError> {
    let values: Vec<Option<Bytes>> = argv
        .iter()
        .skip(1)
        .map(|key| ctx.lookup(key).map(|e| e.value))
        .collect();
    Ok(reply::array_of_optional_bulks(values.iter().map(|v| v.as_deref())))
}
