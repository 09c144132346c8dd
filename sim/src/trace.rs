//! The run's trace: every fault, state change and decision, stamped with simulated time
//! only. Its hash is the determinism fingerprint; it renders as a timeline, as the window
//! of lines that led to a violation, and as a Chrome/Perfetto trace ([`Trace::chrome_json`]).
//!
//! Only the text of a line is hashed: the stable event names, arguments and counter
//! samples a Perfetto trace adds can grow without changing any run's trace hash.
//!
//! Must never: contain wall-clock time, addresses or anything else that differs between
//! two runs of the same seed.

mod chrome;
mod notes;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::nemesis::FaultKind;

/// What a trace line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A fault applied by the nemesis (an instant on the "nemesis" track).
    Fault,
    /// The replica link state of a node (a span per state).
    ReplState(&'static str),
    /// A master-side replica state (span per replica connection).
    SlaveState {
        /// The master's connection to that replica.
        conn: u32,
        /// The new state, `None` once the replica is gone.
        state: Option<&'static str>,
    },
    /// Anything else worth a line.
    Event,
    /// An oracle violation.
    Violation,
}

/// One trace line.
#[derive(Debug, Clone)]
pub struct Line {
    /// Simulated time.
    pub t_ms: u64,
    /// Node index, or `None` for the harness itself.
    pub node: Option<usize>,
    /// What the line is about.
    pub kind: Kind,
    /// The hashed, human-readable text.
    pub text: String,
    /// A stable event name for Perfetto (`psync`, `link-error`, `partition`…); empty
    /// for lines that are spans of their own (states).
    pub name: &'static str,
    /// Structured arguments (Perfetto's `args`); `Null` when there are none.
    pub args: Value,
    /// The fault this line applied, and whether it had an effect (spans need it).
    pub fault: Option<(FaultKind, bool)>,
}

/// One value of a counter track (offsets, ACKs, backlog length), kept only when it
/// changed. Not hashed: counters are read off the nodes, never decided by the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Simulated time.
    pub t_ms: u64,
    /// The node whose track this is.
    pub node: usize,
    /// Track name (`master_repl_offset`, `repl_backlog_histlen`, `ack n1`…).
    pub track: String,
    /// The value.
    pub value: u64,
}

/// The whole trace.
#[derive(Debug, Default)]
pub struct Trace {
    /// Every line, in the order it was recorded (violations come last, stamped with the
    /// time they were found).
    pub lines: Vec<Line>,
    /// Counter samples, when recording them was asked for ([`Trace::with_counters`]).
    pub samples: Vec<Sample>,
    counters: bool,
    last_sample: BTreeMap<(usize, String), u64>,
    hasher: Sha1,
}

impl Trace {
    /// A trace that also records counter samples (for a Perfetto file).
    pub fn with_counters() -> Trace {
        Trace {
            counters: true,
            ..Trace::default()
        }
    }

    /// Whether counter samples are recorded.
    pub fn records_counters(&self) -> bool {
        self.counters
    }

    /// Appends a line and folds it into the hash.
    pub fn push(&mut self, t_ms: u64, node: Option<usize>, kind: Kind, text: String) {
        self.push_named(t_ms, node, kind, text, "", Value::Null);
    }

    /// Appends a line with a stable event name and arguments; only `text` is hashed.
    pub fn push_named(
        &mut self,
        t_ms: u64,
        node: Option<usize>,
        kind: Kind,
        text: String,
        name: &'static str,
        args: Value,
    ) {
        let who = node.map_or_else(|| "sim".to_string(), |n| format!("n{n}"));
        self.hasher.update(format!("{t_ms} {who} {text}\n").as_bytes());
        self.lines.push(Line {
            t_ms,
            node,
            kind,
            text,
            name,
            args,
            fault: None,
        });
    }

    /// Appends a fault line (see [`Trace::push_named`]) that remembers the fault itself.
    pub fn push_fault(&mut self, t_ms: u64, text: String, fault: &FaultKind, fired: bool) {
        let args = serde_json::json!({ "fault": fault, "fired": fired });
        self.push_named(t_ms, None, Kind::Fault, text, fault.label(), args);
        if let Some(l) = self.lines.last_mut() {
            l.fault = Some((fault.clone(), fired));
        }
    }

    /// Records a counter value if it changed since the last sample of its track.
    pub fn sample(&mut self, t_ms: u64, node: usize, track: &str, value: u64) {
        if !self.counters {
            return;
        }
        let key = (node, track.to_string());
        if self.last_sample.get(&key) == Some(&value) {
            return;
        }
        self.last_sample.insert(key, value);
        self.samples.push(Sample {
            t_ms,
            node,
            track: track.to_string(),
            value,
        });
    }

    /// The determinism fingerprint: SHA-1 over every line.
    pub fn hash(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    /// Lines in time order: violations, recorded at the end of a run, take their place
    /// after the lines of the step that found them (a stable sort keeps everything else).
    fn in_time_order(&self) -> Vec<&Line> {
        let mut lines: Vec<&Line> = self.lines.iter().collect();
        lines.sort_by_key(|l| l.t_ms);
        lines
    }

    /// Human-readable timeline, in time order (a violation appears where it was found).
    pub fn render(&self) -> String {
        let mut s = String::new();
        for l in self.in_time_order() {
            let _ = writeln!(s, "{}", fmt_line(l));
        }
        s
    }

    /// When the first violation was found, if any.
    pub fn first_violation_ms(&self) -> Option<u64> {
        self.lines
            .iter()
            .filter(|l| l.kind == Kind::Violation)
            .map(|l| l.t_ms)
            .min()
    }

    /// What led to the first violation: the last `n` lines up to the moment it was
    /// found, the violations of that moment included (the end of the trace when the run
    /// has none). Violation reports show this, not the end of the run.
    pub fn tail(&self, n: usize) -> String {
        let until = self.first_violation_ms().unwrap_or(u64::MAX);
        let lines: Vec<&Line> = self.in_time_order().into_iter().filter(|l| l.t_ms <= until).collect();
        let start = lines.len().saturating_sub(n);
        let mut s = String::new();
        for l in &lines[start..] {
            let _ = writeln!(s, "  {}", fmt_line(l));
        }
        s
    }

    /// Chrome/Perfetto JSON (Trace Event Format): nodes as processes with named threads,
    /// ReplState and SlaveState as spans, partitions, holds, freezes and full-sync
    /// transfers as spans, faults and events as instants with stable names and `args`,
    /// counter tracks from [`Trace::samples`], and a flow arrow from each PSYNC request
    /// to the master's decision. Timestamps are simulated microseconds.
    pub fn chrome_json(&self, names: &[String], end_ms: u64) -> Value {
        chrome::render(self, names, end_ms)
    }
}

fn fmt_line(l: &Line) -> String {
    let who = l.node.map_or_else(|| "sim".to_string(), |n| format!("n{n}"));
    format!("{:>9.3}s {:<4} {}", l.t_ms as f64 / 1000.0, who, l.text)
}
