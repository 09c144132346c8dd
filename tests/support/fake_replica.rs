//! A fake replica for the live comparisons: attaches to a master with `PSYNC ? -1`, skips
//! the RDB and reads the replication stream as commands with their db, so a test can
//! compare what psync-node and redis-server propagate for the same client commands.

use std::io::Write;

use crate::interop::{bulks, encode, value_end, Conn};

/// A fake replica: `PSYNC ? -1`, skip the RDB, then everything after is the stream.
pub struct FakeReplica {
    pub conn: Conn,
    /// Replication offset at which the stream starts (from +FULLRESYNC).
    pub start_offset: u64,
}

impl FakeReplica {
    pub fn attach(port: u16) -> Self {
        let mut conn = Conn::connect(port).expect("connect fake replica");
        conn.stream
            .write_all(&encode(&[b"PSYNC".to_vec(), b"?".to_vec(), b"-1".to_vec()]))
            .expect("send PSYNC");
        let line = conn.read_line();
        let text = String::from_utf8_lossy(&line).into_owned();
        assert!(text.starts_with("+FULLRESYNC "), "{text:?}");
        let start_offset = text.trim_end().rsplit(' ').next().and_then(|o| o.parse().ok());
        let start_offset = start_offset.expect("FULLRESYNC offset");
        // Disk-based transfer (we sent no `capa eof`): newlines while BGSAVE runs, then $len.
        let header = loop {
            let line = conn.read_line();
            if line != b"\r\n" && line != b"\n" {
                break line;
            }
        };
        assert_eq!(header.first(), Some(&b'$'), "{header:?}");
        let len: usize = std::str::from_utf8(&header[1..header.len() - 2])
            .expect("ascii")
            .parse()
            .expect("rdb length");
        conn.read_exact_bytes(len);
        Self { conn, start_offset }
    }

    /// Reads the stream up to `master_repl_offset` and returns its commands with their db,
    /// leaving out SELECT (tracked) and the replication layer's PINGs.
    pub fn commands_until(&mut self, master_repl_offset: u64) -> Vec<(usize, Vec<Vec<u8>>)> {
        let want = usize::try_from(master_repl_offset - self.start_offset).expect("fits");
        let raw = self.conn.read_exact_bytes(want);
        let mut out = Vec::new();
        let mut db = usize::MAX;
        let mut at = 0;
        while at < raw.len() {
            let end = value_end(&raw, at).expect("complete command in the stream");
            let argv = bulks(&raw[at..end]);
            at = end;
            if argv[0].eq_ignore_ascii_case(b"SELECT") {
                db = std::str::from_utf8(&argv[1]).expect("ascii").parse().expect("db");
            } else if !argv[0].eq_ignore_ascii_case(b"PING") {
                out.push((db, argv));
            }
        }
        out
    }
}

pub fn master_repl_offset(conn: &mut Conn) -> u64 {
    let info = conn.call_str(&["INFO", "replication"]);
    let text = String::from_utf8_lossy(&info).into_owned();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .expect("master_repl_offset in INFO");
    line.trim().parse().expect("offset")
}
