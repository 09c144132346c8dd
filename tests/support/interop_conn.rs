//! A minimal blocking RESP2 client for the interop tests (commands, replies, INFO fields).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// RESP2 encoding of a command.
pub fn encode(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", argv.len()).into_bytes();
    for a in argv {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// End (exclusive) of the complete RESP2 value starting at `start`, if all of it is here.
pub fn value_end(buf: &[u8], start: usize) -> Option<usize> {
    let rel = buf.get(start..)?.windows(2).position(|w| w == b"\r\n")?;
    let line_end = start + rel + 2;
    let header = std::str::from_utf8(&buf[start + 1..line_end - 2]).ok();
    match buf[start] {
        b'+' | b'-' | b':' => Some(line_end),
        b'$' => {
            let n: i64 = header?.parse().ok()?;
            let end = if n < 0 { line_end } else { line_end + n as usize + 2 };
            (buf.len() >= end).then_some(end)
        }
        b'*' => {
            let n: i64 = header?.parse().ok()?;
            (0..n.max(0)).try_fold(line_end, |at, _| value_end(buf, at))
        }
        other => panic!("unexpected RESP type byte {other:#x}"),
    }
}

/// The bulk elements of an array-of-bulks value.
pub fn bulks(value: &[u8]) -> Vec<Vec<u8>> {
    let mut at = value.windows(2).position(|w| w == b"\r\n").expect("header") + 2;
    let mut out = Vec::new();
    while at < value.len() {
        let end = value_end(value, at).expect("complete element");
        let body_start = value[at..].windows(2).position(|w| w == b"\r\n").expect("bulk") + at + 2;
        out.push(value[body_start..end - 2].to_vec());
        at = end;
    }
    out
}

/// A blocking RESP2 client connection (10 s read timeout).
pub struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Conn {
    /// Connects to `127.0.0.1:port`.
    pub fn connect(port: u16) -> std::io::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Self {
            stream,
            buf: Vec::new(),
        })
    }

    fn try_fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    fn fill(&mut self) {
        self.try_fill().expect("read from server");
    }

    /// Reads exactly one reply (raw bytes).
    pub fn read_value(&mut self) -> Vec<u8> {
        loop {
            if !self.buf.is_empty() {
                if let Some(end) = value_end(&self.buf, 0) {
                    return self.buf.drain(..end).collect();
                }
            }
            self.fill();
        }
    }

    /// Reads one line, `\r\n` or a bare `\n` (a keepalive) included.
    pub fn read_line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                return self.buf.drain(..=i).collect();
            }
            self.fill();
        }
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    /// Sends a command without reading.
    pub fn send(&mut self, args: &[&str]) {
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.stream.write_all(&encode(&argv)).expect("write");
    }

    /// Sends a command, reads its reply.
    pub fn call(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        self.stream.write_all(&encode(argv)).expect("write");
        self.read_value()
    }

    /// [`Conn::call`] with string arguments.
    pub fn call_str(&mut self, args: &[&str]) -> Vec<u8> {
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.call(&argv)
    }

    /// [`Conn::call_str`] returning `None` on an IO error or a closed connection.
    pub fn try_call_str(&mut self, args: &[&str]) -> Option<Vec<u8>> {
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.stream.write_all(&encode(&argv)).ok()?;
        loop {
            if !self.buf.is_empty() {
                if let Some(end) = value_end(&self.buf, 0) {
                    return Some(self.buf.drain(..end).collect());
                }
            }
            self.try_fill().ok()?;
        }
    }

    /// Calls and asserts the reply is `+OK`.
    pub fn ok(&mut self, args: &[&str]) {
        let r = self.call_str(args);
        assert_eq!(String::from_utf8_lossy(&r), "+OK\r\n", "reply to {args:?}");
    }

    /// `INFO <section>` as a map of its `field:value` lines.
    pub fn info(&mut self, section: &str) -> BTreeMap<String, String> {
        let v = self.call_str(&["INFO", section]);
        let body = bulks_of_one(&v);
        body.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    }

    /// One INFO field, parsed as an integer.
    pub fn info_i64(&mut self, section: &str, field: &str) -> i64 {
        let info = self.info(section);
        info.get(field)
            .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info:?}"))
            .parse()
            .unwrap_or_else(|e| panic!("INFO {field}: {e}"))
    }

    /// `DEBUG DIGEST` as hex text.
    pub fn digest(&mut self) -> String {
        let r = self.call_str(&["DEBUG", "DIGEST"]);
        let s = String::from_utf8_lossy(&r).into_owned();
        assert!(s.starts_with('+'), "DEBUG DIGEST reply {s:?}");
        s.trim_start_matches('+').trim_end().to_string()
    }
}

fn bulks_of_one(v: &[u8]) -> String {
    let text = String::from_utf8_lossy(v).into_owned();
    assert!(text.starts_with('$'), "expected a bulk reply, got {text:?}");
    let (_, body) = text.split_once("\r\n").expect("bulk header");
    body.to_string()
}
