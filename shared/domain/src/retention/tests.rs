//! Retention tables.
