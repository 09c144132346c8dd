//! The regression corpus: every failure file committed under `tests/regressions/` is
//! replayed from the spec it carries (not regenerated from its seed) and must now pass, or,
//! if it declares an `expected_violation` (oracle and why), still break exactly that oracle.
//! Add a file: `psync-sim sweep … --shrink` (or `shrink`) writes one; copy it here after
//! the fix (tests/regressions/README.md).

use std::path::{Path, PathBuf};

use sim::failure::FailureFile;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_failure_file_replays_to_its_verdict() {
    let files = corpus();
    assert!(!files.is_empty(), "tests/regressions/ holds no failure file");
    for path in files {
        let loaded = FailureFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            loaded.notes.iter().all(|n| !n.contains("version-1")),
            "{}: a corpus file must carry its spec (version 2): {:?}",
            path.display(),
            loaded.notes
        );
        let f = &loaded.file;
        let report = sim::run(&f.spec);
        let ctx = format!(
            "{} (psync-sim replay --file {}; first found as oracle {})",
            path.display(),
            path.display(),
            f.oracle
        );
        match &f.expected_violation {
            None => assert!(
                report.violations.is_empty(),
                "{ctx}: violates again: {:#?}",
                report.violations
            ),
            Some(exp) => {
                assert!(!exp.why.trim().is_empty(), "{ctx}: an expected violation says why");
                assert!(
                    !report.violations.is_empty() && report.violations.iter().all(|v| v.oracle == exp.oracle.as_str()),
                    "{ctx}: expected only {} violations ({}), got {:#?}",
                    exp.oracle,
                    exp.why,
                    report.violations
                );
            }
        }
    }
}
