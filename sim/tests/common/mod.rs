//! What the binary tests share: running the built `psync-sim` and reading its output.

#![allow(dead_code)] // each test file uses its own subset

use std::process::{Command, Output};

/// The built binary, ready for arguments.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_psync-sim"))
}

/// Runs the binary with `args` to completion.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("psync-sim starts")
}

/// Standard output then standard error, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
