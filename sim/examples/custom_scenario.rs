//! A user's own `psync-sim`: one custom scenario and one custom oracle, registered, then
//! the library's command line, so every command finds them by name:
//!
//! ```sh
//! cargo run -p psync-sim --example custom_scenario -- run --seed 1 --scenario partition-under-load
//! cargo run -p psync-sim --example custom_scenario -- replay --seed 1 --scenario partition-under-load
//! cargo run -p psync-sim --example custom_scenario -- sweep --seeds 0..20 --scenario partition-under-load
//! ```
//!
//! Its check's violations appear like the built-in oracles' (`oracle=master-offset`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use sim::nemesis::{Fault, FaultKind};
use sim::oracle::{Check, Finding, NodeView};
use sim::run::RunSpec;
use sim::scenarios::{self, Scenario};

/// Two replicas; one is cut off for three seconds while the writers keep going, then
/// healed: it must CONTINUE from the backlog or full-sync, and every oracle must hold.
fn partition_under_load(seed: u64) -> RunSpec {
    let mut spec = RunSpec::star(seed, "partition-under-load", 2);
    spec.fault_ms = 6_000;
    spec.faults = vec![
        Fault {
            at_ms: 1_000,
            kind: FaultKind::Partition { a: 0, b: 2 },
        },
        Fault {
            at_ms: 4_000,
            kind: FaultKind::Heal { a: 0, b: 2 },
        },
    ];
    spec
}

/// A master's `master_repl_offset` never goes back while it stays a top-level master in
/// one boot (a restart or a demotion starts a new stretch).
#[derive(Default)]
struct MasterOffset {
    /// Node → (boot, highest offset seen while top-level).
    seen: BTreeMap<usize, (u64, u64)>,
}

impl Check for MasterOffset {
    fn name(&self) -> &'static str {
        "master-offset"
    }

    fn step(&mut self, _t_ms: u64, views: &[NodeView]) -> Vec<Finding> {
        let mut found = Vec::new();
        for v in views {
            if !v.top_level {
                self.seen.remove(&v.idx);
                continue;
            }
            match self.seen.insert(v.idx, (v.boot, v.offset)) {
                Some((boot, before)) if boot == v.boot && v.offset < before => found.push(Finding {
                    node: Some(v.idx),
                    message: format!("master_repl_offset went back from {before} to {}", v.offset),
                }),
                _ => {}
            }
        }
        found
    }
}

fn master_offset() -> Box<dyn Check> {
    Box::<MasterOffset>::default()
}

fn main() -> ExitCode {
    let s = Scenario::new(
        "partition-under-load",
        partition_under_load,
        "example: a replica cut off for 3 s under load, then healed",
    );
    if let Err(e) = scenarios::register(s) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    sim::oracle::register_check(master_offset);
    sim::cli::main()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example's scenario runs clean with its check, the partition fires, and the
    /// check would have seen a master going back.
    #[test]
    fn example_scenario_runs_clean_and_its_check_judges() {
        let spec = partition_under_load(1);
        let opts = sim::RunOptions {
            checks: vec![master_offset()],
            ..sim::RunOptions::default()
        };
        let (r, _) = sim::run_with(&spec, opts);
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        assert!(r.faults.iter().all(|(_, fired)| *fired), "{:?}", r.faults);
        assert!(r.converged_at_ms.is_some());
        let mut c = MasterOffset::default();
        let view = |offset| NodeView {
            idx: 0,
            boot: 0,
            replid: proto::ReplId::ZERO,
            offset,
            backlog: None,
            top_level: true,
            repl_state: replica::ReplState::None,
            online_replicas: 0,
            digest: None,
            version: 0,
        };
        assert!(c.step(1, &[view(10)]).is_empty());
        assert_eq!(c.step(2, &[view(9)]).len(), 1, "an offset going back is found");
    }
}
