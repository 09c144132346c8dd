//! The `psync-sim` binary: the command line lives in the library (`sim::cli`), so a
//! user's own binary can register scenarios and checks and offer the same commands.

fn main() -> std::process::ExitCode {
    sim::cli::main()
}
