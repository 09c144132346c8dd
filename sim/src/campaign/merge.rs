//! Reading, writing and merging summary files (`psync-sim merge`, `sweep --resume`).
//! Merging refuses summaries from different commits or run identities, and seeds that
//! ran twice, unless forced: a merged number must mean one thing.

use std::path::{Path, PathBuf};

use super::summary::{Summary, FORMAT, VERSION};

/// Reading, writing or merging summaries; every error names the file(s).
// Each variant is its `#[error]` message; the fields are what it names.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{} is not a psync-sim sweep summary: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{} is a {format:?} version {version} file; this build reads {FORMAT:?} version {VERSION}", path.display())]
    Version {
        path: PathBuf,
        format: String,
        version: u64,
    },
    #[error("{} and {} differ in {what}: {a} vs {b} (--force merges anyway)", first.display(), other.display())]
    Mismatch {
        first: PathBuf,
        other: PathBuf,
        what: String,
        a: String,
        b: String,
    },
    #[error("{} repeats {count} seed(s) already merged, e.g. 0x{example:x} (--force counts them twice)", path.display())]
    Duplicate { path: PathBuf, count: usize, example: u64 },
    #[error("merge needs at least one file")]
    Nothing,
}

impl SummaryError {
    /// Whether the user can fix it by changing the input (exit status 2).
    pub fn is_input(&self) -> bool {
        !matches!(self, SummaryError::Write { .. })
    }
}

/// Reads a summary, checking its format and version.
pub fn load(path: &Path) -> Result<Summary, SummaryError> {
    let bytes = std::fs::read(path).map_err(|source| SummaryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse = |source| SummaryError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(parse)?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    let version = value.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if format.is_empty() {
        let source = serde::de::Error::custom(format!("no \"format\": {FORMAT:?} field"));
        return Err(parse(source));
    }
    if format != FORMAT || version != u64::from(VERSION) {
        return Err(SummaryError::Version {
            path: path.to_path_buf(),
            format: format.to_string(),
            version,
        });
    }
    serde_json::from_value(value).map_err(parse)
}

/// Writes a summary as pretty JSON.
pub fn save(s: &Summary, path: &Path) -> Result<(), SummaryError> {
    let json = serde_json::to_vec_pretty(s).expect("a summary serializes");
    std::fs::write(path, json).map_err(|source| SummaryError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Merges `other` (read from `other_path`) into `acc` (first read from `first_path`).
pub fn merge_into(
    acc: &mut Summary,
    first_path: &Path,
    other: &Summary,
    other_path: &Path,
    force: bool,
) -> Result<(), SummaryError> {
    let mismatch = |what: &str, a: String, b: String| SummaryError::Mismatch {
        first: first_path.to_path_buf(),
        other: other_path.to_path_buf(),
        what: what.to_string(),
        a,
        b,
    };
    if acc.commit != other.commit {
        if !force {
            return Err(mismatch("commit", acc.commit.clone(), other.commit.clone()));
        }
        acc.commit = format!("mixed ({}, {})", acc.commit, other.commit);
    }
    if acc.identity != other.identity {
        if !force {
            return Err(mismatch(
                "run identity",
                format!("{:?}", acc.identity),
                format!("{:?}", other.identity),
            ));
        }
        for (k, v) in &other.identity {
            let mine = acc.identity.entry(k.clone()).or_default();
            if mine != v {
                *mine = format!("{mine}|{v}");
            }
        }
    }
    let dups: Vec<u64> = other
        .seeds_run
        .iter()
        .filter(|s| acc.seeds_run.contains(s))
        .copied()
        .collect();
    if let (Some(&example), false) = (dups.first(), force) {
        return Err(SummaryError::Duplicate {
            path: other_path.to_path_buf(),
            count: dups.len(),
            example,
        });
    }
    acc.seeds_run.extend(&other.seeds_run);
    acc.violating.extend(other.violating.iter().cloned());
    acc.violating.sort_by_key(|v| v.seed);
    acc.failure_files_unwritten += other.failure_files_unwritten;
    acc.totals.merge(&other.totals);
    for p in &other.plans {
        match acc.plans.iter_mut().find(|q| q.seeds == p.seeds && q.shard == p.shard) {
            // A resumed plan: complete once any part finished it.
            Some(q) => q.complete |= p.complete,
            None => acc.plans.push(*p),
        }
    }
    acc.plans.sort();
    acc.jobs += other.jobs;
    acc.parts += other.parts;
    let wall = acc.wall_s + other.wall_s;
    acc.set_wall(wall);
    Ok(())
}

/// Loads and merges files in order.
pub fn merge_files(paths: &[PathBuf], force: bool) -> Result<Summary, SummaryError> {
    let (first, rest) = paths.split_first().ok_or(SummaryError::Nothing)?;
    let mut acc = load(first)?;
    for p in rest {
        let other = load(p)?;
        merge_into(&mut acc, first, &other, p, force)?;
    }
    Ok(acc)
}
