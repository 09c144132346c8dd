//! `redis-7.0`: the rules of redis 7.0 (R1–R72 as the spec states them), what psync-node
//! speaks by default. Every hook keeps its default.

use super::RuleSet;

/// redis 7.0.x (psync2 since 4.0, "meaningful offset" withdrawn in 6.0.4, B7's block cap
/// since 7.0.10).
#[derive(Debug, Clone, Copy, Default)]
pub struct Redis70;

impl RuleSet for Redis70 {
    fn name(&self) -> &'static str {
        "redis-7.0"
    }

    fn summary(&self) -> &'static str {
        "redis 7.0 as the spec states it (the default; what psync-node speaks)"
    }

    fn is_redis_7_0(&self) -> bool {
        true
    }
}
