//! The node: keyspace, both replication roles and the IO adapters that drive them.
pub mod config;
pub mod info;
pub mod keyspace;
pub mod node;
pub mod runtime;
pub mod tcp;

pub use node::{Io, Node, NodeConfig, Note};
pub use runtime::{Handle, Runtime, RuntimeConfig, Transport};
