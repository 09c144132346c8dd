//! psync-sim: deterministic simulation of Redis replication under turmoil.
//!
//! Modules by role (STYLE §1): `world` (turmoil hosts, transport, simulated disk),
//! `nemesis` (fault schedules), `workload` (clients), `oracle` (checkers), `trace`
//! (timeline, hash, Chrome JSON), `run` (one run), `scenarios` (named runs and swarm),
//! `failure` (failure files), `campaign` (sweeps, summaries, merge).

pub mod bench;
pub mod campaign;
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

pub use run::{run, run_with_trace, Coverage, RunReport, RunSpec, SyncCounters};

/// The README's Rust examples compile and run as doc tests (the rule-set example).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
