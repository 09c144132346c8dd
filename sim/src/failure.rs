//! Failure files: a violating run saved whole (its spec, the commit and tool version that
//! ran it, the oracle it broke), so `psync-sim replay --file` reruns exactly that run even
//! after the generators change, and the regression corpus (`tests/regressions/`) stays
//! meaningful.
//!
//! Owns: the file format (current and the legacy one without a spec), loading with errors
//! that name the file, writing. Must never: rebuild a spec from the seed when the file
//! carries one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::nemesis::Fault;
use crate::run::{RunReport, RunSpec};
use crate::scenarios;

/// The commit this binary was built from (`sim/build.rs`).
pub const COMMIT: &str = env!("PSYNC_COMMIT");
/// The tool's version (Cargo).
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
/// `format` of a failure file.
pub const FORMAT: &str = "psync-sim-failure";
/// The current failure-file version (1 was the seed-only format without `format`).
pub const VERSION: u32 = 2;

/// Reading or writing a failure file; every error names the file.
// Each variant is its `#[error]` message; the fields are what it names.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{} is not a psync-sim failure file: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{} is a {format:?} version {version} file; this build reads {FORMAT:?} up to version {VERSION}", path.display())]
    Version {
        path: PathBuf,
        format: String,
        version: u64,
    },
    #[error("{} names scenario {scenario:?}, which this build does not have", path.display())]
    UnknownScenario { path: PathBuf, scenario: String },
}

/// Sizes of the spec before shrinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// Scheduled faults.
    pub faults: usize,
    /// Writer clients.
    pub writers: usize,
    /// Length of the fault phase.
    pub fault_ms: u64,
}

impl Sizes {
    /// A spec's sizes.
    pub fn of(spec: &RunSpec) -> Sizes {
        Sizes {
            faults: spec.faults.len(),
            writers: spec.workload.writers,
            fault_ms: spec.fault_ms,
        }
    }
}

/// A documented expected violation: a regression file whose replay must still break this
/// oracle (and says why that is right).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// The oracle's label.
    pub oracle: String,
    /// Why the violation is right (and the file is kept).
    pub why: String,
}

/// A saved failure: the whole spec that failed, and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureFile {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The commit that wrote the file.
    pub commit: String,
    /// The tool version that wrote it.
    pub tool_version: String,
    /// The first oracle the run broke.
    pub oracle: String,
    /// Whether `spec` was minimised; `original` are the sizes before.
    pub shrunk: bool,
    /// The sizes before shrinking.
    pub original: Sizes,
    /// Regression corpus only: the violation replay must still find.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_violation: Option<Expected>,
    /// The run, whole: replay runs this, not a spec regenerated from the seed.
    pub spec: RunSpec,
}

/// The version-1 file: the seed and the shrunk parts only (the rest came from the
/// generator of whichever build replayed it).
#[derive(Debug, Clone, Deserialize)]
struct LegacyFile {
    seed: u64,
    scenario: String,
    oracle: String,
    faults: Vec<Fault>,
    writers: usize,
    readers: usize,
    mean_gap_ms: u64,
    fault_ms: u64,
    original: (usize, usize, u64),
    /// Files written after rule sets arrived name theirs (redis 7.0 before).
    #[serde(default)]
    rules: crate::rules::RuleSetRef,
}

/// A loaded file and what the reader should know about it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file (a version-1 file upgraded).
    pub file: FailureFile,
    /// E.g. "written by commit X, this build is Y", or a legacy file rebuilt from its seed.
    pub notes: Vec<String>,
}

impl FailureFile {
    /// The file for a failing spec as it ran (`shrunk` false) or minimised.
    pub fn new(spec: &RunSpec, oracle: &str, original: Sizes, shrunk: bool) -> FailureFile {
        FailureFile {
            format: FORMAT.to_string(),
            version: VERSION,
            commit: COMMIT.to_string(),
            tool_version: TOOL_VERSION.to_string(),
            oracle: oracle.to_string(),
            shrunk,
            original,
            expected_violation: None,
            spec: spec.clone(),
        }
    }

    /// The file for a failing spec that was not shrunk.
    pub fn unshrunk(spec: &RunSpec, r: &RunReport) -> FailureFile {
        let oracle = r.violations.first().map_or_else(String::new, |v| v.oracle.to_string());
        FailureFile::new(spec, &oracle, Sizes::of(spec), false)
    }

    /// Where `write_to(dir)` puts it: `<scenario>-0x<seed>.json`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}-0x{:x}.json", self.spec.scenario, self.spec.seed))
    }

    /// Writes the file into `dir` (created if needed) and returns its path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, FileError> {
        let path = self.path_in(dir);
        let err = |source| FileError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(err)?;
        let json = serde_json::to_vec_pretty(self).expect("a failure file serializes");
        std::fs::write(&path, json).map_err(err)?;
        Ok(path)
    }

    /// Reads a failure file of any version this build knows.
    pub fn load(path: &Path) -> Result<Loaded, FileError> {
        let bytes = std::fs::read(path).map_err(|source| FileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let parse = |source| FileError::Parse {
            path: path.to_path_buf(),
            source,
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(parse)?;
        let format = value.get("format").and_then(|f| f.as_str());
        let version = value.get("version").and_then(serde_json::Value::as_u64);
        match (format, version) {
            (None, None) if value.get("seed").is_some() => {
                let legacy: LegacyFile = serde_json::from_value(value).map_err(parse)?;
                legacy.upgrade(path)
            }
            (Some(FORMAT), Some(v)) if v == u64::from(VERSION) => {
                let file: FailureFile = serde_json::from_value(value).map_err(parse)?;
                let mut notes = Vec::new();
                if file.commit != COMMIT {
                    notes.push(format!(
                        "{} was written by commit {} (tool {}); this build is commit {} (tool {}): the same spec may run differently",
                        path.display(),
                        file.commit,
                        file.tool_version,
                        COMMIT,
                        TOOL_VERSION
                    ));
                }
                Ok(Loaded { file, notes })
            }
            (f, v) if f.is_some() || v.is_some() => Err(FileError::Version {
                path: path.to_path_buf(),
                format: f.unwrap_or("?").to_string(),
                version: v.unwrap_or(0),
            }),
            _ => Err(parse(serde::de::Error::custom(
                "expected an object with \"format\": \"psync-sim-failure\" and a \"spec\"",
            ))),
        }
    }
}

impl LegacyFile {
    /// Rebuilds the spec with this build's generator (all a version-1 file allows), and
    /// says so.
    fn upgrade(self, path: &Path) -> Result<Loaded, FileError> {
        let mut spec = scenarios::by_name(&self.scenario, self.seed).ok_or_else(|| FileError::UnknownScenario {
            path: path.to_path_buf(),
            scenario: self.scenario.clone(),
        })?;
        spec.faults = self.faults;
        spec.workload.writers = self.writers;
        spec.workload.readers = self.readers;
        spec.workload.mean_gap_ms = self.mean_gap_ms;
        spec.fault_ms = self.fault_ms;
        spec.rules = self.rules;
        let original = Sizes {
            faults: self.original.0,
            writers: self.original.1,
            fault_ms: self.original.2,
        };
        let mut file = FailureFile::new(&spec, &self.oracle, original, true);
        file.commit = "unknown (version 1 file)".to_string();
        let note = format!(
            "{} is a version-1 failure file (no spec, no commit, no tick): topology, node configs and tick are rebuilt by this build's generator with tick 1 ms, so it may not be the run that failed",
            path.display()
        );
        Ok(Loaded {
            file,
            notes: vec![note],
        })
    }
}
