//! PSYNC rule sets (issue 15): the shipped unsafe designs are caught on fixed seeds, the
//! safe ones are clean and cost what they should, the seed (not the rule set) draws a run,
//! and the psync oracle holds the core to its own rule set.

use bytes::Bytes;
use master::rules::{self, RuleSet};
use master::{PsyncDecision, PsyncState};
use proto::{ConnId, ReplId};
use sim::compare::{compare, CompareSpec};
use sim::oracle::{Oracle, OracleId};
use sim::rules::RuleSetRef;
use sim::run::{run, run_with_trace, RunSpec};
use sim::scenarios::{self, swarm};
use sim::shrink::shrink_for;

fn with_rules(mut spec: RunSpec, name: &str) -> RunSpec {
    spec.rules = name.parse().expect("a registered rule set");
    spec
}

fn oracles(spec: &RunSpec) -> Vec<OracleId> {
    let mut ids: Vec<OracleId> = run(spec).violations.iter().map(|v| v.oracle).collect();
    ids.dedup();
    ids
}

/// B2's design (redis 6.0.0): a demoted master rewinds past its trailing PINGs, so its
/// offset moves back under the same id (I19), which the offset oracle sees; the same seed
/// under redis 7.0 is clean, and the counterexample shrinks to a handful of faults.
#[test]
fn meaningful_offset_is_caught_and_shrinks() {
    let seed = 0x28;
    assert!(oracles(&swarm(seed)).is_empty(), "redis-7.0 must be clean on seed 0x28");
    let spec = with_rules(swarm(seed), "meaningful-offset-6.0.0");
    assert!(oracles(&spec).contains(&OracleId::Offset), "{:?}", oracles(&spec));
    let shrunk = shrink_for(&spec, OracleId::Offset, 120).expect("still violates");
    assert!(
        shrunk.file.spec.faults.len() <= 5,
        "{} faults",
        shrunk.file.spec.faults.len()
    );
    assert_eq!(shrunk.file.spec.rules.name(), "meaningful-offset-6.0.0");
    let json = serde_json::to_vec(&shrunk.file).expect("failure file serializes");
    let replayed: sim::failure::FailureFile = serde_json::from_slice(&json).expect("and loads");
    assert_eq!(
        replayed.spec.rules.name(),
        "meaningful-offset-6.0.0",
        "the file keeps its rule set"
    );
}

/// B6's hazard: the backlog freed by its TTL without a new id lets the old master's later
/// writes hide under a position its promoted replica also names. Caught by the named
/// B6 scenario and by a swarm seed, both as I3: one position names two datasets.
#[test]
fn ttl_keeps_replid_is_caught() {
    let named = scenarios::by_name("backlog-ttl", 1).expect("scenario");
    assert!(oracles(&named).is_empty());
    assert!(oracles(&with_rules(named, "ttl-keeps-replid")).contains(&OracleId::Prefix));
    let seed = 0x19d;
    assert!(oracles(&swarm(seed)).is_empty());
    // n1 held the history when n0, alone past its TTL, wrote without moving the offset.
    assert!(oracles(&with_rules(swarm(seed), "ttl-keeps-replid")).contains(&OracleId::Prefix));
}

/// One fixed-seed campaign over every shipped rule set: the safe historic designs are clean
/// on the same seeds as redis 7.0 and pay in full syncs (psync1: one per failover;
/// no-restart-continuity: one per master restart); the withdrawn ones are caught.
#[test]
fn fixed_seed_campaign_judges_every_shipped_rule_set() {
    let spec = CompareSpec {
        rules: rules::names().iter().map(|n| n.parse().unwrap()).collect(),
        seeds: (0, 48),
        scenario: "swarm".into(),
        tick_ms: 0,
        jobs: 2,
        shrink_budget: 0,
    };
    let report = compare(&spec, &|_, _| {}).expect("swarm exists");
    let col = |name: &str| report.columns.iter().find(|c| c.rules == name).expect("column");
    for safe in ["redis-7.0", "psync1", "no-restart-continuity"] {
        let c = col(safe);
        assert_eq!(c.runs, 48);
        assert_eq!(c.violating_runs, 0, "{safe}: {:?}", c.oracles);
    }
    for unsafe_design in ["meaningful-offset-6.0.0", "ttl-keeps-replid"] {
        let c = col(unsafe_design);
        assert!(c.violating_runs > 0, "{unsafe_design} passed 48 seeds");
        assert!(
            c.oracles.values().all(|v| v.first.is_some()),
            "each oracle names its first seed"
        );
    }
    let base = col("redis-7.0").costs;
    assert!(
        col("psync1").costs.full_syncs > base.full_syncs,
        "{:?} vs {base:?}",
        col("psync1").costs
    );
    assert!(col("psync1").costs.partial_syncs < base.partial_syncs);
    assert!(col("no-restart-continuity").costs.full_syncs >= base.full_syncs);
    assert!(
        base.rdb_bytes > 0 && base.backlog_bytes > 0,
        "costs are counted: {base:?}"
    );
}

/// The seed draws topology, config, workload and faults; the rule set changes none of it.
#[test]
fn the_seed_not_the_rule_set_draws_the_run() {
    for seed in 0..30 {
        let a = swarm(seed);
        let b = with_rules(swarm(seed), "psync1");
        assert_eq!(a.faults, b.faults);
        assert_eq!(a.topology, b.topology);
        assert_eq!(format!("{:?}", a.workload), format!("{:?}", b.workload));
        assert_ne!(a.rules, b.rules);
    }
}

/// A default run's trace is what it was before rule sets existed (no rules line); any
/// other rule set names itself first, so its trace hash differs even where it decides alike.
#[test]
fn the_rule_set_is_part_of_the_trace_identity() {
    let (_, t0) = run_with_trace(&swarm(3));
    assert!(!t0.lines.iter().any(|l| l.text.starts_with("rules ")));
    let (r1, t1) = run_with_trace(&with_rules(swarm(3), "ttl-keeps-replid"));
    assert_eq!(t1.lines[0].text, "rules ttl-keeps-replid");
    assert_ne!(t0.hash(), t1.hash());
    assert_eq!(r1.rules.name(), "ttl-keeps-replid");
}

/// A design that widens R23's replid2 window by 100 bytes.
#[derive(Debug)]
struct Wider;

impl RuleSet for Wider {
    fn name(&self) -> &'static str {
        "wider"
    }
    fn decide(&self, st: &PsyncState, id: &[u8], off: i64) -> PsyncDecision {
        let w = PsyncState {
            second_replid_offset: st.second_replid_offset + 100,
            ..*st
        };
        master::decide(&w, id, off)
    }
}

fn psync_obs(decision: PsyncDecision) -> master::Observation {
    let old = ReplId::from_random([1; 20]);
    master::Observation::Psync {
        conn: ConnId(7),
        id: Bytes::copy_from_slice(&old.0),
        offset: 150,
        state: PsyncState {
            replid: ReplId::from_random([2; 20]),
            replid2: old,
            second_replid_offset: 101,
            backlog: Some((1, 300)),
        },
        decision,
        continued: None,
        master_repl_offset: 300,
    }
}

/// The psync oracle judges the core by the run's own rule set: a CONTINUE past
/// second_replid_offset is right for `Wider` and wrong for redis 7.0 (B10), and a core
/// that ignores its rule set is caught either way.
#[test]
fn psync_oracle_holds_the_core_to_its_own_rule_set() {
    static WIDER: Wider = Wider;
    let cont = psync_obs(PsyncDecision::Continue);
    let full = psync_obs(PsyncDecision::Full(master::FullReason::Replid2OffsetTooHigh));
    let verdicts = |rules: master::rules::Rules, o: &master::Observation| {
        let mut oracle = Oracle::with_rules(rules);
        oracle.master_obs(1, 0, o);
        oracle.violations.iter().filter(|v| v.oracle == OracleId::Psync).count()
    };
    assert_eq!(verdicts(&WIDER, &cont), 0);
    assert_eq!(verdicts(&WIDER, &full), 1);
    assert_eq!(verdicts(&rules::Redis70, &cont), 1);
    assert_eq!(verdicts(&rules::Redis70, &full), 0);
    assert_eq!(RuleSetRef(&WIDER).name(), "wider");
}
