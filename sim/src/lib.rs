//! psync-sim: deterministic simulation of Redis replication under turmoil.
//!
//! Modules by role (STYLE §1): `world` (turmoil hosts, transport, simulated disk),
//! `nemesis` (fault schedules), `workload` (clients), `oracle` (checkers), `trace`
//! (timeline, hash, Chrome JSON), `run` (one run), `scenarios` (named runs and swarm),
//! `failure` (failure files), `campaign` (sweeps, summaries, merge), `cli` (the
//! `psync-sim` command line).
//!
//! As a library: build a [`RunSpec`] (or take a named one from [`scenarios`]), run it with
//! [`run()`] or [`run_with()`] (extra [`oracle::Check`]s, stop at the first violation),
//! and register custom scenarios ([`scenarios::register`]) and checks
//! ([`oracle::register_check`]) before calling [`cli::main`] from your own binary.
//! `examples/custom_scenario.rs` does all of it.

#![warn(missing_docs)]

// The command line (`cli.rs`, a module of this library so tests and users' binaries can
// drive it) names the crate `sim`, as the binary and users do.
extern crate self as sim;

pub mod bench;
pub mod campaign;
pub mod cli;
pub mod compare;
pub mod failure;
pub mod nemesis;
pub mod net;
pub mod oracle;
pub mod rules;
pub mod run;
pub mod scenarios;
pub mod shrink;
pub mod trace;
pub mod workload;
pub mod world;

pub use run::{run, run_with, run_with_trace, Coverage, RunOptions, RunReport, RunSpec, Stepping, SyncCounters};

/// The README's Rust examples compile and run as doc tests (the rule-set example).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
