//! The admin API (being written).
