//! Smoke tests of the `psync-node` binary itself (this also makes `cargo test --workspace`
//! build the binary that the interop tests in `tests/` run against redis-server).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_psync-node");

#[test]
fn help_lists_the_replication_flags() {
    let out = Command::new(BIN).arg("--help").output().expect("run psync-node --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--replicaof",
        "--masterauth",
        "--repl-backlog-size",
        "--repl-diskless-sync",
        "--dbfilename",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
}

/// Kills the child by its own PID when the test ends, pass or fail.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serves_ping_and_set_on_loopback() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = std::env::temp_dir().join(format!("psync-node-cli-{port}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let _child = Child(
        Command::new(BIN)
            .args(["--port", &port.to_string(), "--dir", dir.to_str().expect("utf8")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn psync-node"),
    );
    let mut s = None;
    for _ in 0..200 {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
            s = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut s = s.expect("psync-node did not start listening");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(b"PING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .expect("write");
    let want = b"+PONG\r\n+OK\r\n$1\r\nv\r\n";
    let mut got = Vec::new();
    while got.len() < want.len() {
        let mut b = [0u8; 64];
        let n = s.read(&mut b).expect("read");
        assert!(n > 0, "connection closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&b[..n]);
    }
    assert_eq!(got, want);
}
