//! The node: keyspace, both replication roles and the IO adapters that drive them.
pub mod info;
pub mod keyspace;
pub mod node;

pub use node::{Io, Node, NodeConfig, Note};
