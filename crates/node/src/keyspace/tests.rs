//! Unit tests for the keyspace (filled below).
