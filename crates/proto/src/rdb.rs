//! RDB reader and writer for the subset a replica needs (string values only).
//!
//! Owns: the RDB byte layout (header, AUX, SELECTDB, RESIZEDB, expiry opcodes, string
//! encodings, EOF + CRC-64/Redis). Must never: panic on any input, allocate by a length
//! the input claims before checking it against the remaining bytes, or skip a value type
//! it does not understand (that is a typed `Unsupported` error).
//!
//! Mirrors `src/rdb.c` of redis 7.0: `rdbLoadRioWithLoadingCtx()` for [`load`] and
//! `rdbSaveRio()` / `rdbSaveRawString()` for [`write()`].
//!
//! (Over ~500 lines on purpose: one codec, reader and writer of one byte layout side by side
//! as in `rdb.c`, with its tests.)

use bytes::Bytes;
use thiserror::Error;

use crate::lzf;
use crate::ReplId;

/// Oldest RDB version accepted: the first with the EOF checksum (`RDB_VERSION` 5, redis 2.6).
pub const RDB_VERSION_MIN: u16 = 5;
/// Newest RDB version accepted (redis 7.4). Versions 5..=12 share the layout of everything
/// this module reads (header, AUX, SELECTDB, RESIZEDB, expiry opcodes, string encodings and
/// EOF + CRC-64); they differ only in value types and opcodes that are rejected anyway.
pub const RDB_VERSION_MAX: u16 = 12;
/// The version redis 7.0 writes (`RDB_VERSION` 10); what callers pass to [`write()`].
pub const RDB_VERSION_REDIS_7_0: u16 = 10;
/// Number of databases in our keyspace (redis' default `databases 16`); SELECTDB beyond it
/// is rejected rather than silently creating a db the replica cannot hold.
pub const DB_COUNT: u32 = 16;
/// Largest string accepted: redis' `proto-max-bulk-len` default, 512 MiB.
pub const MAX_STRING_LEN: u64 = 512 * 1024 * 1024;

/// A back reference of 3 bytes (`ctrl`, extra length, offset) produces at most 264 bytes,
/// so no valid LZF block expands by more than 88x; a larger claim is corrupt and must not
/// drive an allocation.
const LZF_MAX_EXPANSION: u64 = lzf::MAX_MATCH as u64 / 3;

const OP_SLOT_INFO: u8 = 0xF4;
const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;
const TYPE_STRING: u8 = 0;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// The CRC redis appends after EOF (`crc64()` in `src/crc64.c`, Jones polynomial, reflected).
const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// One key of an RDB file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbEntry {
    /// The key bytes (integer-encoded keys are rendered in decimal).
    pub key: Bytes,
    /// The string value as bytes (integer encodings are rendered in decimal, as Redis does).
    pub value: Bytes,
    /// Absolute expiry in unix milliseconds (EXPIRETIME seconds are multiplied by 1000).
    pub expire_ms: Option<i64>,
}

/// The keys of one database, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RdbDb {
    /// The SELECTDB index, always `< DB_COUNT` in a loaded file.
    pub index: u32,
    /// The keys, in file order.
    pub entries: Vec<RdbEntry>,
}

/// A whole RDB payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RdbFile {
    /// The 4-digit version from the header (10 for redis 7.0).
    pub version: u16,
    /// AUX fields in file order; integer-encoded values are rendered in decimal.
    pub aux: Vec<(Bytes, Bytes)>,
    /// Databases in file order; empty databases are not written.
    pub dbs: Vec<RdbDb>,
}

/// Replication info carried in the AUX fields (R65); valid only when all three are present
/// and `repl-offset != -1`, `repl-stream-db != -1`, `repl-id` is 40 chars (R67).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplInfo {
    /// The db the replication stream had selected at fork time (`repl-stream-db`).
    pub repl_stream_db: u32,
    /// The master's replid at fork time (`repl-id`).
    pub repl_id: crate::ReplId,
    /// `master_repl_offset` at fork time (`repl-offset`).
    pub repl_offset: u64,
}

/// Typed RDB errors. Each says what was wrong and at which byte position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RdbError {
    /// The payload does not start with `REDIS`.
    #[error("rdb error; bad magic, expected REDIS at byte 0")]
    BadMagic,
    /// The header's version is outside `RDB_VERSION_MIN..=RDB_VERSION_MAX`.
    #[error("rdb error; unsupported rdb version {0}")]
    UnsupportedVersion(u16),
    /// The header's version field is not 4 ASCII digits.
    #[error("rdb error; version {digits:?} at byte 5 is not 4 ascii digits")]
    BadVersion {
        /// The 4 version bytes, lossy UTF-8.
        digits: String,
    },
    /// The payload ends in the middle of an item.
    #[error("rdb error; input ends at byte {at} while reading {what}")]
    UnexpectedEof {
        /// The payload length (where input ran out).
        at: usize,
        /// What was being read.
        what: &'static str,
    },
    /// A value type other than string (list, set, zset, hash, module, stream, ...).
    #[error("rdb error; unsupported value type {type_byte} for key {key:?} at byte {at}")]
    Unsupported {
        /// The type byte seen.
        type_byte: u8,
        /// The key it belongs to, lossy UTF-8.
        key: String,
        /// Position of the type byte.
        at: usize,
    },
    /// An opcode this loader cannot skip safely (functions, module aux, slot info).
    #[error("rdb error; unsupported opcode {opcode:#04x} at byte {at}")]
    UnsupportedOpcode {
        /// The opcode seen.
        opcode: u8,
        /// Its position.
        at: usize,
    },
    /// The CRC-64 after EOF does not match the bytes.
    #[error("rdb error; checksum mismatch: file says {expected:#018x}, computed {computed:#018x}")]
    ChecksumMismatch {
        /// The checksum stored in the file.
        expected: u64,
        /// The checksum of the bytes up to and including EOF.
        computed: u64,
    },
    /// A length prefix with an invalid encoding (or a string encoding where a plain length
    /// is required).
    #[error("rdb error; bad length encoding at byte {at}")]
    BadLength {
        /// Position of the length's first byte.
        at: usize,
    },
    /// A special string encoding other than int8/int16/int32/LZF.
    #[error("rdb error; unknown string encoding {encoding} at byte {at}")]
    BadStringEncoding {
        /// The low 6 bits of the encoding byte.
        encoding: u8,
        /// Position of the encoding byte.
        at: usize,
    },
    /// A string (or LZF length) larger than [`MAX_STRING_LEN`].
    #[error("rdb error; length {len} at byte {at} exceeds limit {max}")]
    TooLong {
        /// The claimed length.
        len: u64,
        /// The limit.
        max: u64,
        /// Position of the string.
        at: usize,
    },
    /// An LZF block that does not decompress to its claimed length.
    #[error("rdb error; corrupt lzf data at byte {at}")]
    LzfCorrupt {
        /// Position of the LZF string's encoding byte.
        at: usize,
    },
    /// Bytes after the checksum: a framing bug upstream, never a valid file.
    #[error("rdb error; {count} trailing bytes after the checksum")]
    TrailingBytes {
        /// How many bytes follow the checksum.
        count: usize,
    },
    /// SELECTDB with an index `>= DB_COUNT`.
    #[error("rdb error; database index {index} out of range at byte {at}")]
    BadDbIndex {
        /// The index seen.
        index: u64,
        /// Position of the SELECTDB opcode.
        at: usize,
    },
}

/// A length prefix: either a plain length or a special string encoding (`RDB_ENCVAL`).
enum Len {
    Plain(u64),
    Encoded(u8),
}

/// A bounds-checked cursor over the payload; every read can fail with `UnexpectedEof`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], RdbError> {
        let eof = RdbError::UnexpectedEof {
            at: self.buf.len(),
            what,
        };
        let end = self.pos.checked_add(n).ok_or(eof.clone())?;
        let bytes = self.buf.get(self.pos..end).ok_or(eof)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RdbError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, RdbError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Mirrors `rdbLoadLenByRef()`: 6-bit, 14-bit, 32-bit BE, 64-bit BE or an encoding.
    fn len_or_encoding(&mut self, what: &'static str) -> Result<Len, RdbError> {
        let at = self.pos;
        let first = self.byte(what)?;
        let low = first & 0x3f;
        Ok(match first >> 6 {
            0 => Len::Plain(u64::from(low)),
            1 => Len::Plain((u64::from(low) << 8) | u64::from(self.byte(what)?)),
            2 if first == 0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array(what)?))),
            2 if first == 0x81 => Len::Plain(u64::from_be_bytes(self.array(what)?)),
            2 => return Err(RdbError::BadLength { at }),
            _ => Len::Encoded(low),
        })
    }

    /// A length that must not be a string encoding (db index, RESIZEDB sizes, LZF sizes).
    fn length(&mut self, what: &'static str) -> Result<u64, RdbError> {
        let at = self.pos;
        match self.len_or_encoding(what)? {
            Len::Plain(len) => Ok(len),
            Len::Encoded(_) => Err(RdbError::BadLength { at }),
        }
    }

    /// Mirrors `rdbGenericLoadStringObject()`; integer encodings come back in decimal.
    fn string(&mut self) -> Result<Bytes, RdbError> {
        let at = self.pos;
        match self.len_or_encoding("string length")? {
            Len::Plain(len) => {
                let n = checked_len(len, at)?;
                Ok(Bytes::copy_from_slice(self.take(n, "string")?))
            }
            Len::Encoded(ENC_INT8) => Ok(decimal(i8::from_le_bytes(self.array("int8")?))),
            Len::Encoded(ENC_INT16) => Ok(decimal(i16::from_le_bytes(self.array("int16")?))),
            Len::Encoded(ENC_INT32) => Ok(decimal(i32::from_le_bytes(self.array("int32")?))),
            Len::Encoded(ENC_LZF) => self.lzf_string(at),
            Len::Encoded(encoding) => Err(RdbError::BadStringEncoding { encoding, at }),
        }
    }

    /// Mirrors `rdbLoadLzfStringObject()`, with the sizes checked before any allocation.
    fn lzf_string(&mut self, at: usize) -> Result<Bytes, RdbError> {
        let compressed_len = self.length("lzf compressed length")?;
        let compressed = checked_len(compressed_len, at)?;
        let uncompressed_len = self.length("lzf uncompressed length")?;
        let uncompressed = checked_len(uncompressed_len, at)?;
        if uncompressed_len > compressed_len.saturating_mul(LZF_MAX_EXPANSION) {
            return Err(RdbError::LzfCorrupt { at });
        }
        let data = self.take(compressed, "lzf data")?;
        lzf::decompress(data, uncompressed)
            .map(Bytes::from)
            .ok_or(RdbError::LzfCorrupt { at })
    }
}

/// Checks a claimed string length against [`MAX_STRING_LEN`] and converts it to `usize`.
fn checked_len(len: u64, at: usize) -> Result<usize, RdbError> {
    let too_long = RdbError::TooLong {
        len,
        max: MAX_STRING_LEN,
        at,
    };
    if len > MAX_STRING_LEN {
        return Err(too_long);
    }
    usize::try_from(len).map_err(|_| too_long)
}

fn decimal(v: impl ToString) -> Bytes {
    Bytes::from(v.to_string())
}

/// Parses the 9-byte header `REDIS` + 4 ASCII digits.
fn read_header(r: &mut Reader<'_>) -> Result<u16, RdbError> {
    let magic = r.take(5, "magic").map_err(|_| RdbError::BadMagic)?;
    if magic != b"REDIS" {
        return Err(RdbError::BadMagic);
    }
    let digits: [u8; 4] = r.array("version")?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(RdbError::BadVersion {
            digits: String::from_utf8_lossy(&digits).into_owned(),
        });
    }
    let version = digits.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if !(RDB_VERSION_MIN..=RDB_VERSION_MAX).contains(&version) {
        return Err(RdbError::UnsupportedVersion(version));
    }
    Ok(version)
}

/// What the loader carries between opcodes.
struct LoadState {
    file: RdbFile,
    /// The db selected by the last SELECTDB (0 before any, as in `rdbLoad`).
    selected: u32,
    /// An expiry read by EXPIRETIME(_MS), applied to the next key.
    expire_ms: Option<i64>,
}

impl LoadState {
    /// Handles one opcode or key/value pair (everything except EOF).
    fn step(&mut self, r: &mut Reader<'_>, opcode: u8, at: usize) -> Result<(), RdbError> {
        match opcode {
            OP_AUX => {
                let key = r.string()?;
                let value = r.string()?;
                self.file.aux.push((key, value));
            }
            OP_RESIZEDB => {
                // Only a hash-table sizing hint; the counts are not trusted for anything.
                r.length("resizedb db size")?;
                r.length("resizedb expires size")?;
            }
            OP_EXPIRETIME_MS => {
                self.expire_ms = Some(i64::from_le_bytes(r.array("expiretime ms")?));
            }
            OP_EXPIRETIME => {
                let secs = i32::from_le_bytes(r.array("expiretime")?);
                self.expire_ms = Some(i64::from(secs) * 1000);
            }
            OP_SELECTDB => {
                let index = r.length("db index")?;
                self.selected = u32::try_from(index)
                    .ok()
                    .filter(|&i| i < DB_COUNT)
                    .ok_or(RdbError::BadDbIndex { index, at })?;
            }
            // LFU/LRU metadata precede the key they describe; harmless to drop.
            OP_FREQ => {
                r.byte("lfu freq")?;
            }
            OP_IDLE => {
                r.length("lru idle")?;
            }
            OP_SLOT_INFO | OP_FUNCTION2 | OP_FUNCTION_PRE_GA | OP_MODULE_AUX => {
                return Err(RdbError::UnsupportedOpcode { opcode, at });
            }
            TYPE_STRING => {
                let key = r.string()?;
                let value = r.string()?;
                self.push_entry(key, value);
            }
            type_byte => {
                // Read the key so the error names it; the value layout is unknown to us.
                let key = r.string()?;
                return Err(RdbError::Unsupported {
                    type_byte,
                    key: String::from_utf8_lossy(&key).into_owned(),
                    at,
                });
            }
        }
        Ok(())
    }

    /// Appends to the selected db, starting a new [`RdbDb`] when the selection changed, so
    /// a SELECTDB with no keys after it leaves no empty db behind.
    fn push_entry(&mut self, key: Bytes, value: Bytes) {
        let entry = RdbEntry {
            key,
            value,
            expire_ms: self.expire_ms.take(),
        };
        match self.file.dbs.last_mut() {
            Some(db) if db.index == self.selected => db.entries.push(entry),
            _ => self.file.dbs.push(RdbDb {
                index: self.selected,
                entries: vec![entry],
            }),
        }
    }
}

/// Parses a whole RDB payload (the bytes between the transfer framing, R31/R32).
///
/// Versions 5..=12 are accepted because the layout of everything read here is identical
/// across them. Only string values are supported (R65 aux fields included).
///
/// # Errors
/// Any malformed, truncated or unsupported input is an [`RdbError`] naming the byte
/// position; a stored checksum of 0 means "not checked" (as `rdb-checksum no` writes).
pub fn load(payload: &[u8]) -> Result<RdbFile, RdbError> {
    let mut r = Reader { buf: payload, pos: 0 };
    let version = read_header(&mut r)?;
    let mut state = LoadState {
        file: RdbFile {
            version,
            ..RdbFile::default()
        },
        selected: 0,
        expire_ms: None,
    };
    loop {
        let at = r.pos;
        let opcode = r.byte("opcode")?;
        if opcode == OP_EOF {
            read_checksum(&mut r, at)?;
            debug_assert_eq!(r.pos, payload.len(), "checksum check consumed the rest");
            return Ok(state.file);
        }
        state.step(&mut r, opcode, at)?;
        debug_assert!(r.pos > at, "every opcode consumes input");
    }
}

/// Verifies the CRC-64 after the EOF opcode at `eof_at` and that nothing follows it.
fn read_checksum(r: &mut Reader<'_>, eof_at: usize) -> Result<(), RdbError> {
    let expected = u64::from_le_bytes(r.array("checksum")?);
    let rest = r.buf.len() - r.pos;
    if rest != 0 {
        return Err(RdbError::TrailingBytes { count: rest });
    }
    if expected != 0 {
        let computed = CRC64.checksum(&r.buf[..=eof_at]);
        if computed != expected {
            return Err(RdbError::ChecksumMismatch { expected, computed });
        }
    }
    Ok(())
}

impl RdbFile {
    /// The last value of aux field `key`; the last wins because `rdbLoad` assigns each aux
    /// field as it reads it.
    pub fn aux_value(&self, key: &str) -> Option<&Bytes> {
        self.aux
            .iter()
            .rev()
            .find(|(k, _)| k.as_ref() == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// The replication info a restarted instance may resume from (R67/R68): all of
    /// `repl-id` (40 chars), `repl-offset` (!= -1) and `repl-stream-db` (!= -1, < 16).
    /// `None` means the RDB cannot seed a partial resync.
    pub fn repl_info(&self) -> Option<ReplInfo> {
        let parse = |key: &str| -> Option<i64> { std::str::from_utf8(self.aux_value(key)?).ok()?.parse().ok() };
        let repl_id = ReplId::from_bytes(self.aux_value("repl-id")?)?;
        let repl_offset = parse("repl-offset").filter(|&o| o != -1)?;
        let repl_stream_db = parse("repl-stream-db").filter(|&d| d != -1)?;
        Some(ReplInfo {
            repl_stream_db: u32::try_from(repl_stream_db).ok().filter(|&d| d < DB_COUNT)?,
            repl_id,
            repl_offset: u64::try_from(repl_offset).ok()?,
        })
    }

    /// Builds a version-10 file with the aux fields redis 7.0 writes, in its order
    /// (`rdbSaveInfoAuxFields()`, R65): `redis-ver`, `redis-bits`, `ctime`, `used-mem`,
    /// then `repl-stream-db`, `repl-id`, `repl-offset` if `repl` is given, then `aof-base`.
    pub fn with_repl_aux(
        redis_ver: &str,
        ctime_s: i64,
        used_mem: u64,
        repl: Option<ReplInfo>,
        dbs: Vec<RdbDb>,
    ) -> RdbFile {
        let field = |k: &'static str, v: Bytes| (Bytes::from_static(k.as_bytes()), v);
        let mut aux = vec![
            field("redis-ver", Bytes::copy_from_slice(redis_ver.as_bytes())),
            field("redis-bits", decimal(64)),
            field("ctime", decimal(ctime_s)),
            field("used-mem", decimal(used_mem)),
        ];
        if let Some(info) = repl {
            aux.push(field("repl-stream-db", decimal(info.repl_stream_db)));
            aux.push(field("repl-id", Bytes::copy_from_slice(&info.repl_id.0)));
            aux.push(field("repl-offset", decimal(info.repl_offset)));
        }
        aux.push(field("aof-base", decimal(0)));
        RdbFile {
            version: RDB_VERSION_REDIS_7_0,
            aux,
            dbs,
        }
    }
}

/// Serialises `file` the way redis 7.0's `rdbSaveRio()` does (string values only), with a
/// real CRC-64 so the receiving side verifies it.
///
/// Databases without entries are skipped, as redis skips empty dicts.
///
/// # Panics
/// In debug builds, if `file.version > 9999` (it would not fit the 4-digit header).
pub fn write(file: &RdbFile) -> Vec<u8> {
    debug_assert!(file.version <= 9999, "rdb version {}", file.version);
    let mut out = format!("REDIS{:04}", file.version).into_bytes();
    for (key, value) in &file.aux {
        out.push(OP_AUX);
        write_string(&mut out, key);
        write_string(&mut out, value);
    }
    for db in file.dbs.iter().filter(|db| !db.entries.is_empty()) {
        out.push(OP_SELECTDB);
        write_len(&mut out, u64::from(db.index));
        let expires = db.entries.iter().filter(|e| e.expire_ms.is_some()).count();
        out.push(OP_RESIZEDB);
        write_len(&mut out, db.entries.len() as u64);
        write_len(&mut out, expires as u64);
        for entry in &db.entries {
            if let Some(ms) = entry.expire_ms {
                out.push(OP_EXPIRETIME_MS);
                out.extend_from_slice(&ms.to_le_bytes());
            }
            out.push(TYPE_STRING);
            write_string(&mut out, &entry.key);
            write_string(&mut out, &entry.value);
        }
    }
    out.push(OP_EOF);
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Mirrors `rdbSaveLen()`: the shortest of the 6-bit, 14-bit, 32-bit and 64-bit forms.
fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push((len & 0xff) as u8);
    } else if let Ok(len32) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len32.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Mirrors `rdbSaveRawString()`: integer encoding for short canonical decimals, LZF for
/// strings over 20 bytes when it saves space, else a raw length-prefixed string.
fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = canonical_i32(s) {
            write_int(out, v);
            return;
        }
    }
    if s.len() > 20 {
        if let Some(compressed) = lzf::compress(s) {
            out.push(0xC0 | ENC_LZF);
            write_len(out, compressed.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&compressed);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Mirrors `rdbTryIntegerEncoding()`: only a string that survives `string2ll` then
/// `ll2string` unchanged (no '+', no leading zeros, no "-0") may be stored as an integer,
/// or the round trip would change the value's bytes.
fn canonical_i32(s: &[u8]) -> Option<i32> {
    let v: i32 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// Mirrors `rdbEncodeInteger()`: the smallest of int8, int16, int32.
fn write_int(out: &mut Vec<u8>, v: i32) {
    if let Ok(v8) = i8::try_from(v) {
        out.push(0xC0 | ENC_INT8);
        out.extend_from_slice(&v8.to_le_bytes());
    } else if let Ok(v16) = i16::try_from(v) {
        out.push(0xC0 | ENC_INT16);
        out.extend_from_slice(&v16.to_le_bytes());
    } else {
        out.push(0xC0 | ENC_INT32);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// proptest strategies for [`RdbFile`] (STYLE §6: strategies live next to their types).
#[cfg(any(test, feature = "proptest"))]
pub mod strategy {
    use super::{RdbDb, RdbEntry, RdbFile, DB_COUNT, RDB_VERSION_MAX, RDB_VERSION_MIN};
    use bytes::Bytes;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use proptest::sample::subsequence;
    use std::collections::BTreeMap;

    /// Byte strings that exercise every string encoding: int8/16/32 boundaries, numbers
    /// that must stay raw (out of range, leading zeros, '+', "-0"), the empty string,
    /// repetitive strings over 20 bytes (LZF) and random binary.
    pub fn arb_rdb_string() -> impl Strategy<Value = Bytes> {
        let fixed = prop::sample::select(vec![
            "-5",
            "0",
            "-0",
            "+5",
            "007",
            "127",
            "-128",
            "128",
            "300",
            "-32768",
            "32768",
            "70000",
            "2147483647",
            "-2147483648",
            "2147483648",
            "-2147483649",
            "10000000000",
            "",
        ]);
        prop_oneof![
            fixed.prop_map(|s| Bytes::from_static(s.as_bytes())),
            any::<i64>().prop_map(|v| Bytes::from(v.to_string())),
            "[0-9]{1,12}".prop_map(Bytes::from),
            (vec(any::<u8>(), 1..6), 5usize..80).prop_map(|(unit, n)| Bytes::from(unit.repeat(n))),
            vec(any::<u8>(), 0..64).prop_map(Bytes::from),
        ]
    }

    /// 1-20 distinct keys (ordered, so generation is deterministic) with value and expiry.
    fn arb_db_entries() -> impl Strategy<Value = BTreeMap<Bytes, (Bytes, Option<i64>)>> {
        let entry = (arb_rdb_string(), prop::option::of(1..=i64::MAX));
        btree_map(arb_rdb_string(), entry, 1..=20)
    }

    /// Files of 0-4 dbs with distinct ascending indices, 1-20 distinct keys each (empty dbs
    /// are not written, so they could not round-trip), optional positive expiries, and a
    /// few aux fields.
    pub fn arb_rdb_file() -> impl Strategy<Value = RdbFile> {
        let indices = subsequence((0..DB_COUNT).collect::<Vec<_>>(), 0..=4);
        let dbs = indices.prop_flat_map(|idx| {
            let n = idx.len();
            (Just(idx), vec(arb_db_entries(), n))
        });
        let aux = vec((arb_rdb_string(), arb_rdb_string()), 0..4);
        (RDB_VERSION_MIN..=RDB_VERSION_MAX, aux, dbs).prop_map(|(version, aux, (idx, maps))| {
            let dbs = idx
                .into_iter()
                .zip(maps)
                .map(|(index, map)| RdbDb {
                    index,
                    entries: map
                        .into_iter()
                        .map(|(key, (value, expire_ms))| RdbEntry { key, value, expire_ms })
                        .collect(),
                })
                .collect();
            RdbFile { version, aux, dbs }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Lives here rather than in tests/ because `strategy` is only compiled for this crate's
    // own tests unless the `proptest` feature is on.
    proptest! {
        /// decode(encode(x)) == x for every generated file (STYLE §6).
        #[test]
        fn write_then_load_round_trips(file in strategy::arb_rdb_file()) {
            let bytes = write(&file);
            prop_assert_eq!(load(&bytes), Ok(file));
        }
    }

    fn encoded(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_string(&mut out, s);
        out
    }

    fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
        let crc = CRC64.checksum(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn write_string_picks_redis_encodings() {
        assert_eq!(encoded(b"64"), vec![0xc0, 0x40]);
        assert_eq!(encoded(b"-12345"), vec![0xc1, 0xc7, 0xcf]);
        assert_eq!(encoded(b"1000"), vec![0xc1, 0xe8, 0x03]);
        assert_eq!(encoded(b"100000"), vec![0xc2, 0xa0, 0x86, 0x01, 0x00]);
        assert_eq!(encoded(b"10000000000"), b"\x0b10000000000".to_vec());
        assert_eq!(encoded(b"007"), b"\x03007".to_vec());
        assert_eq!(encoded(b"-0"), b"\x02-0".to_vec());
        assert_eq!(encoded(b"+5"), b"\x02+5".to_vec());
        assert_eq!(encoded(b""), vec![0x00]);
        let long = b"hello hello hello hello hello hello!";
        assert_eq!(encoded(long)[0], 0xc3);
    }

    #[test]
    fn lengths_round_trip_at_encoding_boundaries() {
        for len in [0u64, 63, 64, 16383, 16384, u64::from(u32::MAX), 1 << 40] {
            let mut out = Vec::new();
            write_len(&mut out, len);
            let mut r = Reader { buf: &out, pos: 0 };
            assert_eq!(r.length("test").ok(), Some(len), "len {len}");
            assert_eq!(r.pos, out.len());
        }
    }

    #[test]
    fn load_rejects_bad_header() {
        assert_eq!(load(b"REDIX0010"), Err(RdbError::BadMagic));
        assert_eq!(load(b"RED"), Err(RdbError::BadMagic));
        assert_eq!(load(b"REDIS0004\xff"), Err(RdbError::UnsupportedVersion(4)));
        assert_eq!(load(b"REDIS0013\xff"), Err(RdbError::UnsupportedVersion(13)));
        assert!(matches!(load(b"REDIS00a0\xff"), Err(RdbError::BadVersion { .. })));
    }

    #[test]
    fn load_accepts_zero_checksum_as_unchecked() {
        let mut bytes = b"REDIS0010\xff".to_vec();
        bytes.extend_from_slice(&[0; 8]);
        assert_eq!(load(&bytes).map(|f| f.version), Ok(10));
        bytes.push(0);
        assert_eq!(load(&bytes), Err(RdbError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn load_rejects_db_index_out_of_range() {
        let bytes = with_crc(b"REDIS0010\xfe\x10\xff".to_vec());
        assert_eq!(load(&bytes), Err(RdbError::BadDbIndex { index: 16, at: 9 }));
    }

    #[test]
    fn load_reads_expiretime_seconds_and_skips_lru_lfu() {
        let body = b"REDIS0009\xfd\x0a\x00\x00\x00\xf8\x05\xf9\x07\x00\x01k\x01v\xff".to_vec();
        let file = load(&with_crc(body)).expect("valid");
        assert_eq!(file.dbs.len(), 1);
        assert_eq!(file.dbs[0].index, 0);
        assert_eq!(file.dbs[0].entries[0].expire_ms, Some(10_000));
    }

    #[test]
    fn load_rejects_function_and_module_opcodes() {
        for op in [OP_FUNCTION2, OP_FUNCTION_PRE_GA, OP_MODULE_AUX] {
            let body = vec![b'R', b'E', b'D', b'I', b'S', b'0', b'0', b'1', b'0', op];
            assert_eq!(
                load(&with_crc(body)),
                Err(RdbError::UnsupportedOpcode { opcode: op, at: 9 })
            );
        }
    }

    #[test]
    fn load_rejects_implausible_lzf_lengths_before_allocating() {
        // 1 compressed byte claiming 100 MiB.
        let body = b"REDIS0010\x00\x01k\xc3\x01\x80\x06\x40\x00\x00\x00".to_vec();
        assert_eq!(load(&body), Err(RdbError::LzfCorrupt { at: 12 }));
        // A raw string claiming 4 GiB.
        let body = b"REDIS0010\x00\x01k\x80\xff\xff\xff\xff".to_vec();
        assert!(matches!(load(&body), Err(RdbError::TooLong { .. })));
    }

    /// R67: the three aux fields make a valid `ReplInfo` only when all are usable.
    #[test]
    fn repl_info_requires_all_three_valid_fields() {
        let id = ReplId::from_random([0xab; 20]);
        let info = ReplInfo {
            repl_stream_db: 3,
            repl_id: id,
            repl_offset: 103_559,
        };
        let file = RdbFile::with_repl_aux("7.0.15", 1, 2, Some(info), Vec::new());
        assert_eq!(file.repl_info(), Some(info));
        let mut minus_one = file.clone();
        minus_one.aux[6].1 = Bytes::from_static(b"-1");
        assert_eq!(minus_one.repl_info(), None);
        let none = RdbFile::with_repl_aux("7.0.15", 1, 2, None, Vec::new());
        assert_eq!(none.repl_info(), None);
    }

    /// R65: aux order and encodings match `rdbSaveInfoAuxFields()` byte for byte.
    #[test]
    fn with_repl_aux_writes_redis_7_0_aux_bytes() {
        let info = ReplInfo {
            repl_stream_db: 0,
            // A real id (s1_disk); a repetitive one would be LZF-compressed, as in redis.
            repl_id: ReplId::from_bytes(b"cfbc9b6327c5545c672c213ca8a969863137e277").expect("40 chars"),
            repl_offset: 103_559,
        };
        let bytes = write(&RdbFile::with_repl_aux("7.0.15", 0, 0, Some(info), Vec::new()));
        let needle = b"\xfa\x0erepl-stream-db\xc0\x00\xfa\x07repl-id(";
        assert!(bytes.windows(needle.len()).any(|w| w == needle));
        let offset = b"\xfa\x0brepl-offset\xc2\x87\x94\x01\x00";
        assert!(bytes.windows(offset.len()).any(|w| w == offset));
        assert!(bytes.starts_with(b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfa\x0aredis-bits\xc0\x40"));
    }
}
