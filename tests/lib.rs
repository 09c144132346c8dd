//! Shared helpers for the integration, property, scenario and interop tests.

pub mod vectors {
    //! Access to the redis-server 7.0.15 captures copied into `tests/vectors/` (so tests
    //! never read `../shared` at run time) and full decoders for their byte streams.

    /// Directory holding the capture files.
    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/redis-7.0.15")
    }

    // The helpers themselves are shared with crates/replica/tests/common/mod.rs.
    include!("vectors_access.rs");
}

#[path = "support/fake_replica.rs"]
pub mod fake_replica;

#[path = "support/interop.rs"]
pub mod interop;
