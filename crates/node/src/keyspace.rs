//! Keyspace (in progress).
