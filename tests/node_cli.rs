//! The `psync-node` binary's command line and startup (issue 18, item 10): "listening on"
//! only once the port is bound, a clear error and no announcement when it cannot be,
//! `--seed` in decimal or 0x-hex as psync-sim takes it, and a usage error (exit status 2)
//! naming a bad `--replicaof` port. Each test spawns the built binary on 127.0.0.1 and
//! stops it by its own PID.

use psync_tests::interop::{free_port, psync_node_binary, wait_for, Conn, TempDir};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A spawned psync-node, killed (by its own handle) and reaped on drop.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(dir: &TempDir, port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(psync_node_binary());
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .arg("--dir")
        .arg(&dir.path)
        .args(extra);
    cmd
}

/// Runs psync-node expecting it to exit by itself within 10 s.
fn run_to_exit(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for("psync-node to exit", Duration::from_secs(10), || {
        match child.try_wait() {
            Ok(Some(_)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    child.wait_with_output().expect("output")
}

/// Starts psync-node with stderr to a file; returns it once it answers PING.
fn serve(dir: &TempDir, port: u16, extra: &[&str]) -> (Node, std::path::PathBuf) {
    let log = dir.path.join(format!("node-{port}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let child = command(dir, port, extra)
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn psync-node");
    let node = Node(child);
    wait_for("psync-node to answer PING", Duration::from_secs(10), || {
        let mut c = Conn::connect(port).map_err(|e| e.to_string())?;
        match c.try_call_str(&["PING"]) {
            Some(r) if r == b"+PONG\r\n" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    (node, log)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn announces_listening_only_after_the_bind_succeeds() {
    let dir = TempDir::new("cli-bind");
    // The port is held by this test: the bind must fail, and nothing may be announced.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let mut cmd = command(&dir, port, &[]);
    cmd.env("RUST_BACKTRACE", "1");
    let out = run_to_exit(cmd);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("backtrace"), "a busy port is no bug: {err}");
    assert!(
        !err.contains("listening on"),
        "announced a port it could not bind: {err}"
    );
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{err}");
    drop(held);

    // A free port: announced, and by then it accepts connections.
    let port = free_port();
    let (_node, log) = serve(&dir, port, &[]);
    let text = std::fs::read_to_string(log).expect("log");
    assert!(
        text.contains(&format!("psync-node listening on 127.0.0.1:{port}")),
        "{text}"
    );
}

#[test]
fn seed_is_taken_in_hex_as_psync_sim_takes_it() {
    let dir = TempDir::new("cli-seed");
    let replid = |seed: &str| {
        let port = free_port();
        let (node, _) = serve(&dir, port, &["--seed", seed]);
        let id = Conn::connect(port).expect("connect").info("replication")["master_replid"].clone();
        drop(node);
        id
    };
    let hex = replid("0x2a");
    assert_eq!(hex.len(), 40);
    assert_eq!(hex, replid("42"), "--seed 0x2a is --seed 42");
    assert_ne!(hex, replid("43"), "the seed drives the replid");

    let out = run_to_exit(command(&dir, free_port(), &["--seed", "0xzz"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad seed \"0xzz\""), "{}", stderr(&out));
}

#[test]
fn a_bad_replicaof_port_is_a_usage_error() {
    let dir = TempDir::new("cli-replicaof");
    for port in ["x", "70000", "-1"] {
        let out = run_to_exit(command(&dir, free_port(), &["--replicaof", "localhost", port]));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "--replicaof localhost {port}: {err}");
        assert!(
            err.contains(&format!("invalid PORT \"{port}\" for '--replicaof localhost {port}'")),
            "{err}"
        );
        assert!(!err.contains("listening on"), "{err}");
    }
}
