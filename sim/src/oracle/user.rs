//! User-supplied oracles: a [`Check`] is called after every simulation step with the same
//! [`NodeView`]s the built-in oracles see, and what it reports becomes a [`Violation`]
//! like theirs (oracle column = its name): printed with the trace window, counted by the
//! sweep, shrunk by `shrink`.
//!
//! A check is given to one run ([`crate::run::RunOptions::checks`]) or registered for every
//! run of the process ([`register_check`]: what a user's own `psync-sim` binary does, so
//! `run`, `replay`, `sweep` and `shrink` all apply it).
//!
//! Must never: influence the run. A check only reads views; it has no handle on a node.

use std::sync::RwLock;

use super::NodeView;

/// One finding of a user check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The node it is about, if any.
    pub node: Option<usize>,
    /// What broke, with the values seen.
    pub message: String,
}

/// A user-supplied oracle. One value lives for one run, so it may keep state across steps.
pub trait Check {
    /// The name reports show as the violation's oracle (`oracle=NAME`); keep it short and
    /// stable, failure files and `shrink` compare it.
    fn name(&self) -> &'static str;

    /// Called after every simulation step with the views of every live node.
    fn step(&mut self, t_ms: u64, views: &[NodeView]) -> Vec<Finding>;

    /// Called once at the end of a run that was not stopped early, with the final views.
    fn finish(&mut self, _t_ms: u64, _views: &[NodeView]) -> Vec<Finding> {
        Vec::new()
    }
}

/// Makes a fresh check for one run.
pub type CheckFactory = fn() -> Box<dyn Check>;

static REGISTERED: RwLock<Vec<CheckFactory>> = RwLock::new(Vec::new());

/// Registers a check for every run this process starts from now on (after the checks a
/// run is given explicitly). Registering the same factory twice runs it twice.
pub fn register_check(factory: CheckFactory) {
    REGISTERED.write().unwrap_or_else(|e| e.into_inner()).push(factory);
}

/// Fresh instances of every registered check, in registration order.
pub fn registered_checks() -> Vec<Box<dyn Check>> {
    REGISTERED
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|f| f())
        .collect()
}
