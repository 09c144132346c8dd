//! `psync-sim`: the deterministic simulation harness (filled by the simulator issue).
fn main() {}
