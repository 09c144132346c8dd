//! The terminal table of a [`Summary`] (a sweep's or a merge's): the same lines either
//! way. ci/bugs.sh reads the `runs` and `violating runs` lines: keep their first words.

use std::fmt::Write as _;

use super::summary::{Summary, LISTED};

/// The table, one line per `\n`.
pub fn render(s: &Summary) -> String {
    let mut o = String::new();
    let t = &s.totals;
    let _ = writeln!(o, "runs                 {}", t.runs);
    let _ = writeln!(o, "violating runs       {}", t.violating_runs);
    let _ = writeln!(
        o,
        "violations           {} (a run can break several oracles)",
        t.violations
    );
    for (oracle, n) in &t.violations_by_oracle {
        let _ = writeln!(o, "  violations[{oracle}]  {n}");
    }
    let sim_s = t.sim_ms as f64 / 1000.0;
    let wall = s.wall_s.max(1e-9);
    let _ = writeln!(o, "simulated seconds    {sim_s:.1}");
    if s.parts > 1 {
        let _ = writeln!(
            o,
            "wall seconds         {:.2} (summed over {} parts, {} jobs)",
            s.wall_s, s.parts, s.jobs
        );
    } else {
        let _ = writeln!(o, "wall seconds         {:.2} ({} jobs)", s.wall_s, s.jobs);
    }
    let _ = writeln!(o, "sim/wall ratio       {:.1}x", sim_s / wall);
    let _ = writeln!(o, "seeds per second     {:.2}", t.runs as f64 / wall);
    let _ = writeln!(o, "faults never fired   {}", t.faults_never_fired);
    let _ = writeln!(
        o,
        "client writes        {} ({} set, changed or dropped a TTL)",
        t.stats.ok_writes, t.stats.expiry_writes
    );
    let y = &t.syncs;
    let _ = writeln!(
        o,
        "syncs                full {}, partial ok {}, partial refused {}",
        y.sync_full, y.sync_partial_ok, y.sync_partial_err
    );
    checks(&mut o, s);
    coverage(&mut o, s);
    violating(&mut o, s);
    o
}

fn checks(o: &mut String, s: &Summary) {
    let c = &s.totals.checks;
    let _ = writeln!(
        o,
        "checks: acked writes WAITs {} (empty {}), survived {}, expected losses {}",
        c.wait, c.empty_waits, c.survived_waits, c.expected_losses
    );
    let _ = writeln!(
        o,
        "checks: reads judged {} (unjudgeable {}), read-back keys {}, stream commands modelled {} (histories not followed {})",
        c.reads, c.reads_unchecked, c.readback_keys, c.stream_commands, c.model_unknown
    );
    let _ = writeln!(
        o,
        "checks: digests vs stream {}, dataset changes at one offset {}, transfers done {} failed {}",
        c.model_prefix, c.dataset_changes, c.transfers_done, c.transfers_failed
    );
    let _ = writeln!(
        o,
        "checks: PSYNC requests judged {}, avoidable full syncs {}",
        c.psync_requests, c.avoidable_full_syncs
    );
}

fn coverage(o: &mut String, s: &Summary) {
    let cov = &s.totals.coverage;
    let _ = writeln!(
        o,
        "coverage ReplState   {:?} ({}/16)",
        cov.repl_states,
        cov.repl_states.len()
    );
    let _ = writeln!(
        o,
        "coverage SlaveState  {:?} ({}/4)",
        cov.slave_states,
        cov.slave_states.len()
    );
    let _ = writeln!(o, "coverage PSYNC       {:?}", cov.psync);
    let _ = writeln!(o, "coverage faults      {:?}", cov.faults);
    let _ = writeln!(
        o,
        "coverage links       fragmented writes {}, cuts {}, corrupted writes {}",
        cov.fragmented_writes, cov.cuts, cov.corrupted_writes
    );
}

fn violating(o: &mut String, s: &Summary) {
    let sources: std::collections::BTreeSet<_> = s.plans.iter().map(|p| p.seeds).collect();
    for src in sources {
        let parts: Vec<_> = s.plans.iter().filter(|p| p.seeds == src).collect();
        let done = parts.iter().filter(|p| p.complete).count();
        let shards: Vec<String> = parts.iter().map(|p| p.shard.to_string()).collect();
        let _ = writeln!(
            o,
            "seeds                {src}: shard {} ({done} of {} complete)",
            shards.join(" "),
            parts.len()
        );
    }
    if !s.complete() {
        let _ = writeln!(
            o,
            "NOT COMPLETE: some seeds of the plan did not run (budget, Ctrl-C, --until-violation or a missing shard)"
        );
    }
    if s.failure_files_unwritten > 0 {
        let _ = writeln!(
            o,
            "FAILURE FILES NOT WRITTEN {} (see the errors above)",
            s.failure_files_unwritten
        );
    }
    if s.violating.is_empty() {
        return;
    }
    let n = s.violating.len();
    let _ = writeln!(o, "violating seeds      {} (first {} listed)", n, n.min(LISTED));
    for v in s.violating.iter().take(LISTED) {
        let total: u64 = v.oracles.values().sum();
        let _ = writeln!(
            o,
            "  0x{:x} {} ({} violations): {}",
            v.seed, v.first.oracle, total, v.reproduce
        );
    }
}
