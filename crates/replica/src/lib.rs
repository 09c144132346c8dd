//! Replication replica core (sans-IO).
