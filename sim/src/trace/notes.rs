//! How the harness reads a node's drained notes: first the stream facts (histories, fed
//! positions, client writes) for the stream model and the client oracles, then per note a
//! trace line, coverage and the event oracles (PSYNC, WAIT, replica states, link errors).
//!
//! Owns: the text of every note's trace line (the trace hash covers it) and its stable
//! Perfetto name. Must never: reorder or reword a line (each run's hash would change).

use node::Note;
use serde_json::json;

use super::Kind;
use crate::oracle::NodeView;
use crate::run::Harness;

impl Harness {
    /// Stream facts of one note: histories for the stream model, every fed position,
    /// every client write's position, recorded ids (see `collect`).
    pub(crate) fn stream_note(&mut self, t: u64, i: usize, boot: u64, note: &Note) {
        use master::Observation as M;
        let o = &mut self.oracle;
        match note {
            Note::Base {
                replid,
                offset,
                entries,
                stream_db,
            } => o.rebase(t, i, *replid, *offset, entries, *stream_db),
            Note::Master(M::Fed {
                replid,
                end,
                bytes,
                generated,
            }) => {
                o.fed(i, *replid, *end, *generated);
                if *generated {
                    o.model.fed(*replid, *end, bytes.clone());
                }
            }
            Note::Master(M::ReplidChanged {
                replid,
                replid2,
                second_replid_offset,
                why,
                old_replid,
                master_repl_offset,
            }) => match *why {
                master::HistoryChange::Promotion | master::HistoryChange::ContinueNewId => {
                    o.model.link(*replid, *old_replid, *master_repl_offset)
                }
                master::HistoryChange::RestartAsMaster if *second_replid_offset > 0 => {
                    o.model
                        .restart_link(*replid, *replid2, (*second_replid_offset - 1) as u64)
                }
                _ => {}
            },
            Note::Write { conn, replid, offset } => o.clients.write(i, boot, *conn, *replid, *offset, t),
            Note::DatasetReplaced { .. } => o.dataset_replaced(i),
            _ => {}
        }
    }

    /// A note's trace line, coverage and event oracles, after every node's stream facts
    /// (see `collect`).
    pub(crate) fn note(&mut self, t: u64, i: usize, boot: u64, note: Note, views: &[NodeView]) {
        match note {
            Note::Master(o) => self.master_note(t, i, boot, &o, views),
            Note::Replica(o) => self.replica_note(t, i, o),
            Note::Base { replid, .. } => self.oracle.efficiency.base(i, replid),
            Note::Loaded {
                replid,
                offset,
                as_replica,
            } => self.oracle.efficiency.loaded(i, replid, offset, as_replica),
            Note::Write { .. } => {}
            Note::DatasetReplaced { keys } => {
                let text = format!("dataset replaced ({keys} keys)");
                let args = json!({ "keys": keys });
                self.trace
                    .push_named(t, Some(i), Kind::Event, text, "dataset-replaced", args)
            }
        }
    }

    fn master_note(&mut self, t: u64, i: usize, boot: u64, o: &master::Observation, views: &[NodeView]) {
        self.oracle.master_obs(t, i, o);
        match o {
            master::Observation::Psync { .. } => self.psync_note(t, i, o, views),
            master::Observation::SlaveState { conn, state } => {
                if let Some(s) = state {
                    self.coverage.slave_states.insert(*s as u8);
                }
                let name = state.map(slave_name);
                self.trace.push(
                    t,
                    Some(i),
                    Kind::SlaveState {
                        conn: conn.0,
                        state: name,
                    },
                    format!("slave {conn} -> {name:?}"),
                );
            }
            master::Observation::ReplidChanged {
                replid,
                replid2,
                second_replid_offset,
                why,
                master_repl_offset,
                ..
            } => {
                // Recorded in event order: a PSYNC decided before the change
                // (R27's rename follows its decision) is judged by the ids before it.
                let (id, id2, second) = (*replid, *replid2, *second_replid_offset);
                self.oracle
                    .history_recorded(t, i, *why, id, id2, second, *master_repl_offset);
                let text = format!("replid {replid} replid2 {replid2} second {second_replid_offset} ({why})");
                let args = json!({"replid": replid.to_string(), "replid2": replid2.to_string(),
                        "second_replid_offset": second, "why": why.to_string(),
                        "master_repl_offset": master_repl_offset});
                self.trace
                    .push_named(t, Some(i), Kind::Event, text, "replid-changed", args);
            }
            master::Observation::ReplicasDisconnected { count, why } => {
                let text = format!("{count} replicas disconnected: {why}");
                let args = json!({"count": count, "why": why.to_string()});
                self.trace
                    .push_named(t, Some(i), Kind::Event, text, "replicas-disconnected", args);
            }
            master::Observation::ObufLimit { .. } => self.obuf_note(t, i, o),
            master::Observation::Fed { .. } | master::Observation::RdbSent { .. } => {}
            master::Observation::WaitReply { conn, offset, acked } => {
                self.oracle.check_wait(t, i, boot, *conn, *offset, *acked);
                let text = format!("wait offset {offset} acked {acked}");
                let args = json!({"offset": offset, "acked": acked});
                self.trace.push_named(t, Some(i), Kind::Event, text, "wait", args);
            }
        }
    }

    /// R39: a replica dropped for its output buffer, counted by limit kind for coverage.
    fn obuf_note(&mut self, t: u64, i: usize, o: &master::Observation) {
        let master::Observation::ObufLimit {
            conn,
            used,
            limit,
            soft,
            ..
        } = o
        else {
            return;
        };
        if *soft {
            self.coverage.obuf_drops.1 += 1;
        } else {
            self.coverage.obuf_drops.0 += 1;
        }
        let kind = if *soft { "soft" } else { "hard" };
        let text = format!("slave {conn} dropped: output buffer {used} over {kind} limit {limit}");
        let args = json!({"conn": conn.0, "used": used, "limit": limit, "kind": kind});
        self.trace.push_named(t, Some(i), Kind::Event, text, "obuf-limit", args);
    }

    /// A PSYNC decision: judged against its requester's view (R45), then traced.
    fn psync_note(&mut self, t: u64, i: usize, o: &master::Observation, views: &[NodeView]) {
        let master::Observation::Psync {
            conn,
            id,
            offset,
            decision,
            ..
        } = o
        else {
            return;
        };
        self.coverage.psync.insert(decision.label());
        let peer = self.node(i).map(|n| n.borrow().client_ip(*conn));
        // The requester, while it waits for this reply (R45 is judged there).
        let requester = peer.as_ref().and_then(|p| {
            let idx = self.names.iter().position(|n| n == p)?;
            views
                .iter()
                .find(|v| v.idx == idx && v.repl_state == replica::ReplState::ReceivePsync)
        });
        self.oracle.judge_psync(t, i, requester, o);
        if let Some(peer) = peer {
            self.oracle.continued_peer(i, *conn, peer);
        }
        let id = String::from_utf8_lossy(id);
        let text = format!("psync {conn} {id} {offset} -> {}", decision.label());
        let args = json!({"conn": conn.0, "replid": id, "offset": offset,
            "decision": decision.label(), "requester": requester.map(|v| v.idx)});
        self.trace.push_named(t, Some(i), Kind::Event, text, "psync", args);
    }

    fn replica_note(&mut self, t: u64, i: usize, o: replica::Observation) {
        match o {
            replica::Observation::State { from, to } => {
                self.coverage.repl_states.insert(to as u8);
                let source = self.slots.borrow()[i]
                    .replicaof
                    .as_ref()
                    .and_then(|m| self.names.iter().position(|n| n == m));
                self.oracle.replica_state(t, i, source, from, to);
                self.trace.push(
                    t,
                    Some(i),
                    Kind::ReplState(repl_name(to)),
                    format!("repl_state -> {to:?}"),
                );
            }
            other => {
                match &other {
                    replica::Observation::LinkError { reason, .. } => {
                        self.coverage.link_errors += 1;
                        self.oracle.link_error(i, reason, false);
                    }
                    replica::Observation::Continue { .. } | replica::Observation::FullSync { .. } => {
                        self.oracle.efficiency.linked(i)
                    }
                    replica::Observation::TransferFailed { reason } => {
                        self.coverage.transfer_failures += 1;
                        self.oracle.link_error(i, reason, true);
                    }
                    _ => {}
                }
                let (name, args) = replica_event(&other);
                self.trace
                    .push_named(t, Some(i), Kind::Event, format!("{other:?}"), name, args)
            }
        }
    }
}

/// A replica observation's stable event name and arguments (the text stays its Debug
/// form, which the trace hash covers).
fn replica_event(o: &replica::Observation) -> (&'static str, serde_json::Value) {
    use replica::Observation as R;
    match o {
        R::State { from, to } => ("repl-state", json!({"from": repl_name(*from), "to": repl_name(*to)})),
        R::Continue { replid, offset } => ("continue", json!({"replid": replid.to_string(), "offset": offset})),
        R::FullSync { replid, offset } => (
            "full-sync-loaded",
            json!({"replid": replid.to_string(), "offset": offset}),
        ),
        R::LinkError { state, reason } => ("link-error", json!({"state": repl_name(*state), "reason": reason})),
        R::TransferFailed { reason } => ("transfer-failed", json!({ "reason": reason })),
    }
}

fn slave_name(s: master::SlaveState) -> &'static str {
    match s {
        master::SlaveState::WaitBgsaveStart => "WAIT_BGSAVE_START",
        master::SlaveState::WaitBgsaveEnd => "WAIT_BGSAVE_END",
        master::SlaveState::SendBulk => "SEND_BULK",
        master::SlaveState::Online => "ONLINE",
    }
}

fn repl_name(s: replica::ReplState) -> &'static str {
    use replica::ReplState::*;
    match s {
        None => "NONE",
        Connect => "CONNECT",
        Connecting => "CONNECTING",
        ReceivePong => "RECEIVE_PONG",
        SendAuth => "SEND_AUTH",
        ReceiveAuth => "RECEIVE_AUTH",
        SendPort => "SEND_PORT",
        ReceivePort => "RECEIVE_PORT",
        SendIp => "SEND_IP",
        ReceiveIp => "RECEIVE_IP",
        SendCapa => "SEND_CAPA",
        ReceiveCapa => "RECEIVE_CAPA",
        SendPsync => "SEND_PSYNC",
        ReceivePsync => "RECEIVE_PSYNC",
        Transfer => "TRANSFER",
        Connected => "CONNECTED",
    }
}
