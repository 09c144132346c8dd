//! The Perfetto view of a trace (Chrome Trace Event Format, JSON object form): one process
//! per node plus `nemesis` (faults) and `sim` (the harness: convergence), named threads, spans, instants with stable names and `args`,
//! counter tracks and PSYNC flow arrows. Everything is derived from the trace's lines and
//! samples after the run, so nothing here can change a run or its hash.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{Kind, Line, Trace};
use crate::nemesis::FaultKind;

/// Thread ids inside a node's process.
const TID_REPL_STATE: u64 = 0;
const TID_EVENTS: u64 = 1;
const TID_FULL_SYNC: u64 = 2;
const TID_PSYNC: u64 = 3;
const TID_FROZEN: u64 = 4;
/// A master's replica connection `c` is thread `TID_CONN + c`.
const TID_CONN: u64 = 100;
/// Threads of the nemesis process: faults, then one per link and span kind.
const TID_FAULTS: u64 = 0;

/// The harness's own process (convergence, violations about no node), after the nodes.
fn harness_pid(names: &[String]) -> usize {
    names.len() + 1
}

fn us(ms: u64) -> u64 {
    ms * 1000
}

/// What the renderer accumulates: events plus the threads they used (for `thread_name`).
struct Out {
    events: Vec<Value>,
    threads: BTreeMap<(usize, u64), String>,
    flows: u64,
}

impl Out {
    fn thread(&mut self, pid: usize, tid: u64, name: impl Into<String>) {
        self.threads.entry((pid, tid)).or_insert_with(|| name.into());
    }

    fn span(&mut self, pid: usize, tid: u64, name: &str, from_ms: u64, to_ms: u64, args: Value) {
        let dur = us(to_ms.saturating_sub(from_ms)).max(1);
        let mut e = json!({"ph":"X","name":name,"pid":pid,"tid":tid,"ts":us(from_ms),"dur":dur});
        if !args.is_null() {
            e["args"] = args;
        }
        self.events.push(e);
    }
}

/// Open spans keyed by what they belong to.
#[derive(Default)]
struct Open {
    repl: BTreeMap<usize, (&'static str, u64)>,
    slave: BTreeMap<(usize, u32), (&'static str, u64)>,
    /// Replica → (transfer start, outcome so far).
    transfer: BTreeMap<usize, (u64, &'static str)>,
    /// (kind, a, b) → start, for partitions and holds.
    links: BTreeMap<(&'static str, usize, usize), u64>,
    /// Replica → when it last sent PSYNC (entered RECEIVE_PSYNC).
    psync_sent: BTreeMap<usize, u64>,
}

pub(super) fn render(trace: &Trace, names: &[String], end_ms: u64) -> Value {
    let mut out = Out {
        events: Vec::new(),
        threads: BTreeMap::new(),
        flows: 0,
    };
    let mut open = Open::default();
    for l in trace.in_time_order() {
        line(&mut out, &mut open, names, l);
    }
    close_all(&mut out, &mut open, names, end_ms);
    for s in &trace.samples {
        out.events
            .push(json!({"ph":"C","name":s.track,"pid":s.node + 1,"ts":us(s.t_ms),"args":{"value":s.value}}));
    }
    let mut meta = vec![json!({"ph":"M","name":"process_name","pid":0,"args":{"name":"nemesis"}})];
    for (i, n) in names.iter().enumerate() {
        meta.push(json!({"ph":"M","name":"process_name","pid":i + 1,"args":{"name":n}}));
        meta.push(json!({"ph":"M","name":"process_sort_index","pid":i + 1,"args":{"sort_index":i + 1}}));
    }
    let sim = harness_pid(names);
    meta.push(json!({"ph":"M","name":"process_name","pid":sim,"args":{"name":"sim"}}));
    for ((pid, tid), name) in &out.threads {
        meta.push(json!({"ph":"M","name":"thread_name","pid":pid,"tid":tid,"args":{"name":name}}));
    }
    meta.extend(out.events);
    json!({ "traceEvents": meta, "displayTimeUnit": "ms" })
}

fn line(out: &mut Out, open: &mut Open, names: &[String], l: &Line) {
    match (&l.kind, l.node) {
        (Kind::ReplState(s), Some(n)) => repl_state(out, open, n, s, l.t_ms),
        (Kind::SlaveState { conn, state }, Some(n)) => {
            let tid = TID_CONN + u64::from(*conn);
            out.thread(n + 1, tid, format!("replica conn c{conn}"));
            if let Some((prev, from)) = open.slave.remove(&(n, *conn)) {
                out.span(n + 1, tid, prev, from, l.t_ms, Value::Null);
            }
            if let Some(s) = state {
                open.slave.insert((n, *conn), (s, l.t_ms));
            }
        }
        (Kind::Fault, _) => fault(out, open, names, l),
        (Kind::Violation, _) => {
            let pid = l.node.map_or(harness_pid(names), |n| n + 1);
            out.thread(pid, TID_EVENTS, "events");
            out.events.push(
                json!({"ph":"i","s":"g","name":"violation","pid":pid,"tid":TID_EVENTS,"ts":us(l.t_ms),"args":args(l)}),
            );
        }
        (Kind::Event, Some(n)) => event(out, open, n, l),
        (Kind::Event, None) => {
            let pid = harness_pid(names);
            out.thread(pid, TID_EVENTS, "events");
            let name = if l.name.is_empty() { "event" } else { l.name };
            out.events
                .push(json!({"ph":"i","s":"g","name":name,"pid":pid,"tid":TID_EVENTS,"ts":us(l.t_ms),"args":args(l)}));
        }
        _ => {}
    }
}

/// The line's arguments plus its text (what the timeline shows).
fn args(l: &Line) -> Value {
    let mut a = match &l.args {
        Value::Object(m) => Value::Object(m.clone()),
        _ => json!({}),
    };
    a["line"] = Value::String(l.text.clone());
    a
}

fn repl_state(out: &mut Out, open: &mut Open, n: usize, s: &'static str, t: u64) {
    out.thread(n + 1, TID_REPL_STATE, "repl_state");
    if let Some((prev, from)) = open.repl.insert(n, (s, t)) {
        out.span(n + 1, TID_REPL_STATE, prev, from, t, Value::Null);
    }
    if s == "RECEIVE_PSYNC" {
        open.psync_sent.insert(n, t);
    }
    if s == "TRANSFER" {
        open.transfer.entry(n).or_insert((t, "unfinished"));
    } else if let Some((from, outcome)) = open.transfer.remove(&n) {
        out.thread(n + 1, TID_FULL_SYNC, "full syncs");
        out.span(n + 1, TID_FULL_SYNC, "full sync", from, t, json!({"outcome": outcome}));
    }
}

fn event(out: &mut Out, open: &mut Open, n: usize, l: &Line) {
    match l.name {
        "full-sync-loaded" | "transfer-failed" => {
            if let Some(t) = open.transfer.get_mut(&n) {
                t.1 = if l.name == "transfer-failed" {
                    "failed"
                } else {
                    "loaded"
                };
            }
        }
        "psync" => psync_flow(out, open, n, l),
        _ => {}
    }
    out.thread(n + 1, TID_EVENTS, "events");
    let name = if l.name.is_empty() { "event" } else { l.name };
    out.events
        .push(json!({"ph":"i","s":"t","name":name,"pid":n + 1,"tid":TID_EVENTS,"ts":us(l.t_ms),"args":args(l)}));
}

/// A PSYNC decision on master `n`: the requester's wait as a span, the decision as a
/// slice, and a flow arrow from the first to the second.
fn psync_flow(out: &mut Out, open: &mut Open, n: usize, l: &Line) {
    let decision = l.args["decision"].as_str().unwrap_or("?").to_string();
    out.thread(n + 1, TID_PSYNC, "psync");
    out.span(
        n + 1,
        TID_PSYNC,
        &format!("PSYNC -> {decision}"),
        l.t_ms,
        l.t_ms,
        args(l),
    );
    let Some(r) = l.args["requester"].as_u64().map(|r| r as usize) else {
        return;
    };
    let Some(sent) = open.psync_sent.remove(&r) else { return };
    out.thread(r + 1, TID_PSYNC, "psync");
    let req = json!({"replid": l.args["replid"], "offset": l.args["offset"], "master": n});
    out.span(r + 1, TID_PSYNC, "PSYNC request", sent, l.t_ms, req);
    out.flows += 1;
    let id = out.flows;
    out.events
        .push(json!({"ph":"s","cat":"psync","name":"psync","id":id,"pid":r + 1,"tid":TID_PSYNC,"ts":us(sent)}));
    out.events.push(
        json!({"ph":"f","bp":"e","cat":"psync","name":"psync","id":id,"pid":n + 1,"tid":TID_PSYNC,"ts":us(l.t_ms)}),
    );
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

fn link_tid(kind: &str, a: usize, b: usize) -> u64 {
    let k = if kind == "partition" { 1 } else { 2 };
    1000 * k + 32 * a as u64 + b as u64
}

fn fault(out: &mut Out, open: &mut Open, names: &[String], l: &Line) {
    out.thread(0, TID_FAULTS, "faults");
    let name = if l.name.is_empty() { "heal-all" } else { l.name };
    out.events
        .push(json!({"ph":"i","s":"g","name":name,"pid":0,"tid":TID_FAULTS,"ts":us(l.t_ms),"args":args(l)}));
    let Some((kind, fired)) = &l.fault else {
        // The heal at the end of the fault phase ends every link fault.
        close_links(out, open, names, l.t_ms);
        return;
    };
    if !fired {
        return;
    }
    match *kind {
        FaultKind::Partition { a, b } | FaultKind::PartitionOneway { from: a, to: b } => {
            open.links
                .entry(("partition", pair(a, b).0, pair(a, b).1))
                .or_insert(l.t_ms);
        }
        FaultKind::Hold { a, b } => {
            open.links.entry(("hold", pair(a, b).0, pair(a, b).1)).or_insert(l.t_ms);
        }
        FaultKind::Heal { a, b } => end_link(out, open, names, ("partition", pair(a, b).0, pair(a, b).1), l.t_ms),
        FaultKind::Release { a, b } => end_link(out, open, names, ("hold", pair(a, b).0, pair(a, b).1), l.t_ms),
        FaultKind::Freeze { node, ms } => {
            out.thread(node + 1, TID_FROZEN, "frozen");
            out.span(node + 1, TID_FROZEN, "frozen", l.t_ms, l.t_ms + ms, json!({"ms": ms}));
        }
        _ => {}
    }
}

fn end_link(out: &mut Out, open: &mut Open, names: &[String], key: (&'static str, usize, usize), t: u64) {
    let Some(from) = open.links.remove(&key) else { return };
    let (kind, a, b) = key;
    let label = |i: usize| names.get(i).cloned().unwrap_or_else(|| format!("n{i}"));
    let tid = link_tid(kind, a, b);
    out.thread(0, tid, format!("{kind} {}-{}", label(a), label(b)));
    out.span(0, tid, kind, from, t, json!({"a": label(a), "b": label(b)}));
}

fn close_links(out: &mut Out, open: &mut Open, names: &[String], t: u64) {
    let keys: BTreeSet<_> = open.links.keys().copied().collect();
    for k in keys {
        end_link(out, open, names, k, t);
    }
}

fn close_all(out: &mut Out, open: &mut Open, names: &[String], end_ms: u64) {
    close_links(out, open, names, end_ms);
    for (n, (s, from)) in std::mem::take(&mut open.repl) {
        out.span(n + 1, TID_REPL_STATE, s, from, end_ms, Value::Null);
    }
    for ((n, c), (s, from)) in std::mem::take(&mut open.slave) {
        out.span(n + 1, TID_CONN + u64::from(c), s, from, end_ms, Value::Null);
    }
    for (n, (from, outcome)) in std::mem::take(&mut open.transfer) {
        out.thread(n + 1, TID_FULL_SYNC, "full syncs");
        out.span(
            n + 1,
            TID_FULL_SYNC,
            "full sync",
            from,
            end_ms,
            json!({"outcome": outcome}),
        );
    }
}
