//! `psync-node`: a Redis-compatible TCP server (filled by the psync-node issue).
fn main() {
    eprintln!("psync-node: the TCP server is not implemented yet");
    std::process::exit(2);
}
