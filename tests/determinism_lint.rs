//! STYLE §5: simulated code must not read the wall clock, draw OS entropy, spawn real
//! threads or iterate std hash containers. clippy.toml bans some of these; this test
//! catches the rest (and the ones clippy cannot resolve in crates without `rand`).

use std::path::{Path, PathBuf};

/// Tokens that break replay determinism inside simulated code.
const FORBIDDEN: &[&str] = &[
    "thread_rng",
    "rand::random",
    "OsRng",
    "getrandom",
    "RandomState",
    "Instant::now",
    "SystemTime",
    "HashMap",
    "HashSet",
    "std::thread::spawn",
    "spawn_blocking",
];

/// Files outside the simulation that may use real time (the real-TCP server only).
const ALLOWED: &[(&str, &str)] = &[
    ("crates/node/src/main.rs", "SystemTime"),
    ("crates/node/src/tcp.rs", "SystemTime"),
    // Whole simulations run one per thread; nothing inside a simulation sees these.
    // check-determinism's second run, on another thread.
    ("sim/src/cli/run.rs", "std::thread::spawn"),
    ("sim/src/bench.rs", "std::thread::spawn"),
    ("sim/src/bench.rs", "Instant::now"),
    // Campaign wall time and time to the first violation (reported, never fed into a run).
    ("sim/src/compare.rs", "Instant::now"),
    // The sweep's pool, budget and wall time, and the master seed of `--seeds random`.
    ("sim/src/campaign/mod.rs", "Instant::now"),
    ("sim/src/campaign/mod.rs", "OsRng"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn simulated_code_has_no_nondeterminism_sources() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let mut files = Vec::new();
    for d in [
        "crates/proto/src",
        "crates/master/src",
        "crates/replica/src",
        "crates/node/src",
        "sim/src",
    ] {
        rust_files(&root.join(d), &mut files);
    }
    assert!(files.len() >= 8, "found only {} source files", files.len());
    let mut hits = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(f).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for tok in FORBIDDEN {
                if code.contains(tok) && !ALLOWED.contains(&(rel.as_str(), *tok)) {
                    hits.push(format!("{rel}:{}: {tok}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "nondeterminism sources in simulated code:\n{}",
        hits.join("\n")
    );
}
