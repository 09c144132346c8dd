//! The run's trace: every fault, state change and decision, stamped with simulated time
//! only. Its hash is the determinism fingerprint; it renders as a Chrome/Perfetto trace.
//!
//! Must never: contain wall-clock time, addresses or anything else that differs between
//! two runs of the same seed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;
use sha1::{Digest, Sha1};

/// What a trace line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A fault applied by the nemesis (an instant on the "nemesis" track).
    Fault,
    /// The replica link state of a node (a span per state).
    ReplState(&'static str),
    /// A master-side replica state (span per replica connection).
    SlaveState { conn: u32, state: Option<&'static str> },
    /// Anything else worth a line.
    Event,
    /// An oracle violation.
    Violation,
}

/// One trace line.
#[derive(Debug, Clone)]
pub struct Line {
    pub t_ms: u64,
    /// Node index, or `None` for the harness itself.
    pub node: Option<usize>,
    pub kind: Kind,
    pub text: String,
}

/// The whole trace.
#[derive(Debug, Default)]
pub struct Trace {
    pub lines: Vec<Line>,
    hasher: Sha1,
}

impl Trace {
    /// Appends a line and folds it into the hash.
    pub fn push(&mut self, t_ms: u64, node: Option<usize>, kind: Kind, text: String) {
        let who = node.map_or_else(|| "sim".to_string(), |n| format!("n{n}"));
        self.hasher.update(format!("{t_ms} {who} {text}\n").as_bytes());
        self.lines.push(Line { t_ms, node, kind, text });
    }

    /// The determinism fingerprint: SHA-1 over every line.
    pub fn hash(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    /// Human-readable timeline.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            let who = l.node.map_or_else(|| "sim".to_string(), |n| format!("n{n}"));
            let _ = writeln!(s, "{:>9.3}s {:<4} {}", l.t_ms as f64 / 1000.0, who, l.text);
        }
        s
    }

    /// The last `n` lines (for violation reports).
    pub fn tail(&self, n: usize) -> String {
        let start = self.lines.len().saturating_sub(n);
        let mut s = String::new();
        for l in &self.lines[start..] {
            let who = l.node.map_or_else(|| "sim".to_string(), |n| format!("n{n}"));
            let _ = writeln!(s, "  {:>9.3}s {:<4} {}", l.t_ms as f64 / 1000.0, who, l.text);
        }
        s
    }

    /// Chrome/Perfetto JSON: nodes as processes, ReplState and SlaveState as spans,
    /// faults and violations as instants. Timestamps are simulated microseconds.
    pub fn chrome_json(&self, names: &[String], end_ms: u64) -> serde_json::Value {
        let mut events = Vec::new();
        for (i, n) in names.iter().enumerate() {
            events.push(json!({"ph":"M","name":"process_name","pid":i + 1,"args":{"name":n}}));
        }
        events.push(json!({"ph":"M","name":"process_name","pid":0,"args":{"name":"nemesis"}}));
        let mut open_repl: BTreeMap<usize, (&'static str, u64)> = BTreeMap::new();
        let mut open_slave: BTreeMap<(usize, u32), (&'static str, u64)> = BTreeMap::new();
        let span = |name: &str, pid: usize, tid: u64, from: u64, to: u64| json!({"ph":"X","name":name,"pid":pid + 1,"tid":tid,"ts":from * 1000,"dur":(to.saturating_sub(from)) * 1000});
        for l in &self.lines {
            match (&l.kind, l.node) {
                (Kind::ReplState(s), Some(n)) => {
                    if let Some((prev, from)) = open_repl.insert(n, (s, l.t_ms)) {
                        events.push(span(prev, n, 0, from, l.t_ms));
                    }
                }
                (Kind::SlaveState { conn, state }, Some(n)) => {
                    if let Some((prev, from)) = open_slave.remove(&(n, *conn)) {
                        events.push(span(prev, n, u64::from(*conn), from, l.t_ms));
                    }
                    if let Some(s) = state {
                        open_slave.insert((n, *conn), (s, l.t_ms));
                    }
                }
                (Kind::Fault, _) | (Kind::Violation, _) => {
                    let pid = l.node.map_or(0, |n| n + 1);
                    events.push(json!({"ph":"i","s":"g","name":l.text,"pid":pid,"tid":0,"ts":l.t_ms * 1000}));
                }
                (Kind::Event, Some(n)) => {
                    events.push(json!({"ph":"i","s":"t","name":l.text,"pid":n + 1,"tid":0,"ts":l.t_ms * 1000}));
                }
                _ => {}
            }
        }
        for (n, (s, from)) in open_repl {
            events.push(span(s, n, 0, from, end_ms));
        }
        for ((n, c), (s, from)) in open_slave {
            events.push(span(s, n, u64::from(c), from, end_ms));
        }
        json!({ "traceEvents": events, "displayTimeUnit": "ms" })
    }
}
