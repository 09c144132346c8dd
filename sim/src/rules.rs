//! The PSYNC rule set a run is simulated under (`--rules NAME`), as part of the run's
//! identity: a name in traces, failure files and reproduce lines, the rule set itself in
//! the cores. The rule sets live in `master::rules`; this wraps a reference to one so a
//! [`crate::RunSpec`] stays `Clone`, comparable and serialisable by name.

use std::fmt;
use std::str::FromStr;

use master::rules::{self, Rules};

/// A registered (or user-supplied `'static`) rule set; redis 7.0 by default.
#[derive(Clone, Copy)]
pub struct RuleSetRef(pub Rules);

impl RuleSetRef {
    /// The rule set's name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// Whether this is redis 7.0's own rule set (the default; omitted from traces so
    /// default runs keep their trace hashes).
    pub fn is_default(&self) -> bool {
        self.0.is_redis_7_0()
    }
}

impl Default for RuleSetRef {
    fn default() -> Self {
        RuleSetRef(&rules::Redis70)
    }
}

impl fmt::Debug for RuleSetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for RuleSetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for RuleSetRef {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for RuleSetRef {}

/// An unknown rule set name, with the names that exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown rule set {name:?}; known: {}", rules::names().join(", "))]
pub struct UnknownRuleSet {
    /// The name asked for.
    pub name: String,
}

impl FromStr for RuleSetRef {
    type Err = UnknownRuleSet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        rules::by_name(s.trim())
            .map(RuleSetRef)
            .ok_or_else(|| UnknownRuleSet { name: s.to_string() })
    }
}

impl serde::Serialize for RuleSetRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for RuleSetRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses `A,B,C` into rule sets, refusing unknown names and duplicates.
pub fn parse_list(s: &str) -> Result<Vec<RuleSetRef>, String> {
    let mut out: Vec<RuleSetRef> = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let r: RuleSetRef = name.parse().map_err(|e: UnknownRuleSet| e.to_string())?;
        if out.contains(&r) {
            return Err(format!("rule set {name:?} listed twice"));
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err("no rule set named; e.g. --rules redis-7.0,psync1".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_errors_list_known_names() {
        for r in rules::ALL {
            let parsed: RuleSetRef = r.name().parse().unwrap();
            assert_eq!(parsed.name(), r.name());
            let json = serde_json::to_string(&parsed).unwrap();
            let back: RuleSetRef = serde_json::from_str(&json).unwrap();
            assert_eq!(back, parsed);
        }
        let e = "redis7".parse::<RuleSetRef>().unwrap_err().to_string();
        assert!(
            e.contains("redis7") && e.contains("redis-7.0") && e.contains("psync1"),
            "{e}"
        );
        assert!(parse_list("redis-7.0,redis-7.0").is_err());
        assert!(parse_list(" , ").is_err());
        assert_eq!(parse_list("psync1, redis-7.0").unwrap().len(), 2);
    }
}
