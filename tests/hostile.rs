//! psync-node's runtime under hostile clients, on real loopback TCP: hundreds of
//! connections sending garbage, oversized lengths, unterminated and trickled frames,
//! PSYNC without AUTH and REPLCONF from non-replicas, while a well-behaved client keeps
//! being served. The data is unchanged and per-connection buffers stay within limits
//! (asserted on INFO's buffer figures, not on timings).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use node::runtime::{Runtime, RuntimeConfig};
use node::tcp::TokioTransport;
use node::{Node, NodeConfig};
use proto::{encode_command, Frame, Millis};
use rand_chacha::rand_core::SeedableRng;

const QUERY_BUFFER_MAX: usize = 256 * 1024;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Starts a node on its own thread (current-thread runtime + LocalSet, as psync-node).
fn start_node(port: u16, requirepass: Option<&'static str>) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        let dir = std::env::temp_dir().join(format!("psync-hostile-{port}"));
        let transport = TokioTransport {
            bind: "127.0.0.1".into(),
            rdb_path: dir.join("dump.rdb"),
        };
        let cfg = NodeConfig {
            port,
            requirepass: requirepass.map(|p: &'static str| Bytes::from_static(p.as_bytes())),
            query_buffer_max: QUERY_BUFFER_MAX,
            ..NodeConfig::default()
        };
        let node = Node::new(
            cfg,
            rand_chacha::ChaCha8Rng::seed_from_u64(7),
            Millis(1_700_000_000_000),
        );
        let (runtime, _h) = Runtime::new(
            transport,
            RuntimeConfig {
                port,
                ..RuntimeConfig::default()
            },
            node,
        );
        let _ = local.block_on(&rt, runtime.run());
    });
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("node on port {port} did not start");
}

struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn new(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        Client { s, buf: Vec::new() }
    }

    fn cmd(&mut self, argv: &[&str]) -> Frame {
        self.s.write_all(&encode_command(argv)).expect("write");
        self.read()
    }

    fn read(&mut self) -> Frame {
        loop {
            if let Ok(Some((f, n))) = Frame::decode(&self.buf) {
                self.buf.drain(..n);
                return f;
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).expect("read reply");
            assert!(n > 0, "server closed a well-behaved connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn info_field(c: &mut Client, section: &str, field: &str) -> u64 {
    let Frame::Bulk(b) = c.cmd(&["INFO", section]) else {
        panic!("INFO is a bulk")
    };
    let text = String::from_utf8_lossy(&b).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in {text}"));
    line.split(':')
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .expect("number")
}

/// The hostile payloads, by kind.
fn payload(kind: usize, i: usize) -> Vec<u8> {
    match kind {
        0 => (0..4096).map(|j| ((i * 131 + j * 17) % 251) as u8).collect(), // garbage
        1 => b"*99999999\r\n".to_vec(),                                     // multibulk too long
        2 => b"*1\r\n$536870913\r\n".to_vec(),                              // bulk too long
        3 => b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$100000\r\nabc".to_vec(),      // unterminated
        4 => vec![b'A'; 200 * 1024],                                        // inline, no newline
        5 => encode_command(&["PSYNC", "?", "-1"]),                         // PSYNC unauthenticated
        6 => encode_command(&["REPLCONF", "ACK", "12345"]),                 // REPLCONF from a non-replica
        _ => b"*2\r\n$3\r\nGET\r\n$1\r\nk\r".to_vec(),                      // partial CRLF
    }
}

#[test]
fn hostile_clients_do_not_hurt_the_node_or_its_data() {
    let port = free_port();
    start_node(port, Some("pw"));
    let mut good = Client::new(port);
    assert_eq!(good.cmd(&["AUTH", "pw"]), Frame::Simple(Bytes::from_static(b"OK")));
    assert_eq!(
        good.cmd(&["SET", "safe", "1"]),
        Frame::Simple(Bytes::from_static(b"OK"))
    );
    let digest_before = good.cmd(&["DEBUG", "DIGEST"]);

    let mut hostile = Vec::new();
    let mut sent = 0usize;
    for i in 0..300 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect hostile");
        let p = payload(i % 8, i);
        if i % 8 == 7 {
            // Trickle a partial frame one byte at a time.
            for b in &p {
                let _ = s.write_all(&[*b]);
            }
        } else {
            let _ = s.write_all(&p);
        }
        sent += p.len();
        hostile.push(s);
        if i % 50 == 0 {
            // The well-behaved client keeps being served in the middle of it all.
            assert_eq!(good.cmd(&["INCR", "served"]), Frame::Integer((i / 50 + 1) as i64));
        }
    }
    // Unauthenticated PSYNC and REPLCONF got -NOAUTH and no replication data.
    for (i, s) in hostile.iter_mut().enumerate().filter(|(i, _)| i % 8 == 5 || i % 8 == 6) {
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut b = [0u8; 64];
        let n = s.read(&mut b).unwrap_or(0);
        assert!(
            b[..n].starts_with(b"-NOAUTH"),
            "conn {i}: {:?}",
            String::from_utf8_lossy(&b[..n])
        );
    }
    assert_eq!(good.cmd(&["GET", "safe"]), Frame::Bulk(Bytes::from_static(b"1")));
    assert_eq!(
        good.cmd(&["DBSIZE"]),
        Frame::Integer(2),
        "only the good client's keys exist"
    );
    let _ = good.cmd(&["DEL", "served"]);
    assert_eq!(good.cmd(&["DEBUG", "DIGEST"]), digest_before, "data unchanged");
    let max_buf = info_field(&mut good, "clients", "client_recent_max_input_buffer") as usize;
    assert!(
        max_buf <= QUERY_BUFFER_MAX + 16 * 1024,
        "a query buffer grew to {max_buf} (limit {QUERY_BUFFER_MAX})"
    );
    assert_eq!(
        info_field(&mut good, "stats", "sync_full"),
        0,
        "nothing replicated to unauthenticated peers"
    );
    eprintln!("hostile: 300 connections, {sent} bytes sent, max query buffer {max_buf} bytes");
}

#[test]
fn protocol_errors_get_redis_replies_and_close() {
    let port = free_port();
    start_node(port, None);
    for (bytes, want) in [
        (&b"*99999999\r\n"[..], "-ERR Protocol error: invalid multibulk length"),
        (&b"*1\r\n$536870913\r\n"[..], "-ERR Protocol error: invalid bulk length"),
        (&b"*1\r\n:1\r\n"[..], "-ERR Protocol error: expected '$'"),
        (
            &b"SET \"a b\r\n"[..],
            "-ERR Protocol error: unbalanced quotes in request",
        ),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        s.write_all(bytes).expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with(want),
            "{:?} -> {text:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let mut c = Client::new(port);
    assert_eq!(c.cmd(&["PING"]), Frame::Simple(Bytes::from_static(b"PONG")));
}

/// redis 7.0's pre-AUTH limits: more than 10 arguments or a bulk over 16 KiB from an
/// unauthenticated client is refused on the header, before anything is buffered for it.
#[test]
fn unauthenticated_clients_get_small_limits() {
    let port = free_port();
    start_node(port, Some("pw"));
    for (bytes, want) in [
        (&b"*11\r\n"[..], "-ERR Protocol error: unauthenticated multibulk length"),
        (
            &b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"[..],
            "-ERR Protocol error: unauthenticated bulk length",
        ),
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        s.write_all(bytes).expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(
            String::from_utf8_lossy(&out).starts_with(want),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
    // After AUTH the normal limits apply.
    let mut c = Client::new(port);
    assert_eq!(c.cmd(&["AUTH", "pw"]), Frame::Simple(Bytes::from_static(b"OK")));
    let big = "x".repeat(20_000);
    assert_eq!(c.cmd(&["SET", "big", &big]), Frame::Simple(Bytes::from_static(b"OK")));
}
