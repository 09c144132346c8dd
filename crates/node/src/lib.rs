//! The node: keyspace, both replication roles and the IO adapters that drive them.
pub mod keyspace;
