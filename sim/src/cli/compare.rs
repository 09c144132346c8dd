//! `compare`: the same seeds under several rule sets, with a progress bar, and each
//! column's shrunk counterexamples written as failure files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sim::campaign::{InputError, SeedsArg};
use sim::rules::RuleSetRef;

use super::args::Options;

#[allow(clippy::too_many_arguments)]
pub(super) fn compare(
    rules: Vec<RuleSetRef>,
    seeds: SeedsArg,
    scenario: String,
    jobs: Option<usize>,
    json: Option<PathBuf>,
    shrink_budget: usize,
    out: &Path,
    opts: Options,
) -> anyhow::Result<ExitCode> {
    let SeedsArg::Range { start, end } = seeds else {
        return Err(InputError("compare needs --seeds A..B".into()).into());
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let spec = sim::compare::CompareSpec {
        rules: rules.clone(),
        seeds: (start, end),
        scenario,
        tick_ms: opts.tick_ms,
        jobs,
        shrink_budget,
    };
    let bar = indicatif::ProgressBar::new((end - start) * rules.len() as u64);
    let report = match sim::compare::compare(&spec, &|col, done| {
        bar.set_position(col as u64 * (end - start) + done);
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    bar.finish_and_clear();
    print!("{}", sim::compare::render(&report));
    for c in &report.columns {
        for (oracle, v) in &c.oracles {
            let Some(file) = v.first.as_ref().and_then(|x| x.file.as_ref()) else {
                continue;
            };
            let name = format!(
                "{}-{oracle}-{}-0x{:x}.json",
                c.rules, file.spec.scenario, file.spec.seed
            );
            let written = std::fs::create_dir_all(out)
                .and_then(|()| std::fs::write(out.join(&name), serde_json::to_vec_pretty(file)?))
                .map(|()| out.join(&name));
            match written {
                Ok(p) => println!("{} / {oracle}: psync-sim replay --file {}", c.rules, p.display()),
                Err(e) => eprintln!(
                    "error: could not write the {} / {oracle} counterexample: {e:#}",
                    c.rules
                ),
            }
        }
    }
    if let Some(path) = json {
        let text = serde_json::to_vec_pretty(&report)?;
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("error: could not write {}: {e}", path.display());
            return Ok(ExitCode::from(1));
        }
        println!("comparison written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
