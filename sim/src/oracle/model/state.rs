//! The modelled keyspace of one history: what each generated stream command does to it
//! (SET with absolute expiry, DEL, EXPIRE-family rewrites, MULTI/EXEC), with the
//! fingerprint at every command boundary and every key's versions (R70–R73, I17).
//!
//! Owns: command semantics. Must never: accept what the stream rules forbid silently (a
//! relative expiry is a fault, R72) or guess a command it does not know (`Err`: the
//! history becomes unknown from there).

use std::collections::BTreeMap;

use bytes::Bytes;
use node::keyspace::{combine_fingerprint, entry_fingerprint};

use super::{Key, Val};

#[derive(Debug, Clone, Default)]
pub(super) struct State {
    pub(super) current: BTreeMap<Key, Val>,
    pub(super) fp_sum: u64,
    /// Offset of the last parsed byte.
    pub(super) end: u64,
    /// Unparsed tail of the stream (a command split across feeds).
    pub(super) buf: Vec<u8>,
    /// The stream's selected db (`None` until its first SELECT, I17).
    pub(super) db: Option<usize>,
    /// Commands of an open MULTI, applied at EXEC (R55).
    pub(super) multi: Option<Vec<Vec<Bytes>>>,
    /// Every key's changes after the history's start: (offset, value after).
    pub(super) versions: BTreeMap<Key, Vec<(u64, Option<Val>)>>,
    /// Fingerprint at every command boundary.
    pub(super) fps: BTreeMap<u64, u64>,
}

pub(super) fn fp_of(k: &Key, v: &Val) -> u64 {
    entry_fingerprint(k.0, &k.1, &v.0, v.1)
}

fn upper(a: &Bytes) -> Vec<u8> {
    a.to_ascii_uppercase()
}

fn int(a: &Bytes) -> Option<i64> {
    std::str::from_utf8(a).ok()?.parse().ok()
}

impl State {
    pub(super) fn set(&mut self, key: Key, val: Option<Val>, at: u64) {
        if let Some(old) = self.current.get(&key) {
            self.fp_sum = self.fp_sum.wrapping_sub(fp_of(&key, old));
        }
        match &val {
            Some(v) => {
                self.fp_sum = self.fp_sum.wrapping_add(fp_of(&key, v));
                self.current.insert(key.clone(), v.clone());
            }
            None => {
                self.current.remove(&key);
            }
        }
        self.versions.entry(key).or_default().push((at, val));
    }

    /// Applies one command ending at `at`. `Ok(Some(..))` is a rule the stream broke;
    /// `Err` means the model cannot follow (an unknown command).
    pub(super) fn command(&mut self, argv: Vec<Bytes>, at: u64) -> Result<Option<String>, String> {
        let name = upper(&argv[0]);
        let mut fault = None;
        match (name.as_slice(), self.multi.as_mut()) {
            (b"MULTI", None) => self.multi = Some(Vec::new()),
            (b"EXEC", Some(_)) => {
                let cmds = self.multi.take().unwrap_or_default();
                for c in cmds {
                    if let Some(f) = self.apply(c, at)? {
                        fault.get_or_insert(f);
                    }
                }
            }
            (b"MULTI" | b"EXEC", _) => return Err("unbalanced MULTI/EXEC".into()),
            (_, Some(cmds)) => {
                cmds.push(argv);
                return Ok(None); // not a command boundary: replicas count it at EXEC (R55)
            }
            (_, None) => fault = self.apply(argv, at)?,
        }
        self.fps
            .insert(at, combine_fingerprint(self.fp_sum, self.current.len()));
        Ok(fault)
    }

    /// One stream command's effect on the modelled dataset. Long on purpose: one arm per
    /// command the generated stream may carry, so every command's semantics reads in one
    /// place next to the others it must agree with (R70–R73).
    fn apply(&mut self, argv: Vec<Bytes>, at: u64) -> Result<Option<String>, String> {
        let name = upper(&argv[0]);
        let argn = argv.len();
        match name.as_slice() {
            b"PING" => return Ok(None),
            b"REPLCONF" => return Ok(None),
            b"SELECT" => {
                let db = argv.get(1).and_then(int).filter(|d| (0..16).contains(d));
                self.db = Some(db.ok_or("bad SELECT")? as usize);
                return Ok(None);
            }
            b"FLUSHALL" => {
                let keys: Vec<Key> = self.current.keys().cloned().collect();
                for k in keys {
                    self.set(k, None, at);
                }
                return Ok(None);
            }
            _ => {}
        }
        let Some(db) = self.db else {
            // I17: after a history starts, SELECT comes before the first keyed command.
            return Ok(Some(format!(
                "I17: {} with no SELECT since the history started",
                String::from_utf8_lossy(&argv[0])
            )));
        };
        let key = |i: usize| -> Result<Key, String> {
            argv.get(i)
                .map(|k| (db, k.clone()))
                .ok_or_else(|| "missing key".to_string())
        };
        let relative = |what: &str| {
            Some(format!(
                "R72: {what} propagated with a relative or second-based expiry: {}",
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
        };
        match name.as_slice() {
            b"SET" => {
                let k = key(1)?;
                let v = argv.get(2).cloned().ok_or("SET without value")?;
                let (mut nx, mut xx, mut keep, mut at_ms, mut fault) = (false, false, false, None, None);
                let mut i = 3;
                while i < argn {
                    match upper(&argv[i]).as_slice() {
                        b"NX" => nx = true,
                        b"XX" => xx = true,
                        b"KEEPTTL" => keep = true,
                        b"GET" => {}
                        b"PXAT" => {
                            at_ms = argv.get(i + 1).and_then(int);
                            i += 1;
                        }
                        b"EX" | b"PX" | b"EXAT" => {
                            fault = relative("SET");
                            i += 1;
                        }
                        _ => return Err("unknown SET option".into()),
                    }
                    i += 1;
                }
                let old = self.current.get(&k).cloned();
                if (nx && old.is_some()) || (xx && old.is_none()) {
                    return Ok(fault);
                }
                let ttl = if keep { old.and_then(|o| o.1) } else { at_ms };
                self.set(k, Some((v, ttl)), at);
                Ok(fault)
            }
            b"DEL" | b"UNLINK" => {
                for i in 1..argn {
                    let k = key(i)?;
                    if self.current.contains_key(&k) {
                        self.set(k, None, at);
                    }
                }
                Ok(None)
            }
            b"INCR" | b"DECR" | b"INCRBY" | b"DECRBY" => {
                let k = key(1)?;
                let by = match name.as_slice() {
                    b"INCR" => 1,
                    b"DECR" => -1,
                    b"INCRBY" => argv.get(2).and_then(int).ok_or("bad INCRBY")?,
                    _ => -argv.get(2).and_then(int).ok_or("bad DECRBY")?,
                };
                let old = self.current.get(&k).cloned();
                let n = match &old {
                    None => 0,
                    Some((v, _)) => match int(v) {
                        Some(n) => n,
                        None => {
                            return Ok(Some(format!(
                                "{} of a non-integer in the stream",
                                String::from_utf8_lossy(&argv[0])
                            )))
                        }
                    },
                };
                let ttl = old.and_then(|o| o.1);
                self.set(k, Some((Bytes::from(n.wrapping_add(by).to_string()), ttl)), at);
                Ok(None)
            }
            b"APPEND" => {
                let k = key(1)?;
                let suffix = argv.get(2).ok_or("APPEND without value")?;
                let (v, ttl) = match self.current.get(&k) {
                    None => (suffix.clone(), None),
                    Some((v, t)) => (Bytes::from([v.as_ref(), suffix.as_ref()].concat()), *t),
                };
                self.set(k, Some((v, ttl)), at);
                Ok(None)
            }
            b"PEXPIREAT" => {
                let k = key(1)?;
                let when = argv.get(2).and_then(int).ok_or("bad PEXPIREAT")?;
                if let Some((v, _)) = self.current.get(&k).cloned() {
                    self.set(k, Some((v, Some(when))), at);
                }
                Ok(None)
            }
            b"PERSIST" => {
                let k = key(1)?;
                if let Some((v, Some(_))) = self.current.get(&k).cloned() {
                    self.set(k, Some((v, None)), at);
                }
                Ok(None)
            }
            b"EXPIRE" | b"PEXPIRE" | b"EXPIREAT" | b"SETEX" | b"PSETEX" | b"GETEX" => {
                Err(relative(&String::from_utf8_lossy(&argv[0])).unwrap_or_default())
            }
            b"FLUSHDB" => {
                let keys: Vec<Key> = self.current.keys().filter(|k| k.0 == db).cloned().collect();
                for k in keys {
                    self.set(k, None, at);
                }
                Ok(None)
            }
            _ => Err(format!("command {} not modelled", String::from_utf8_lossy(&argv[0]))),
        }
    }
}
