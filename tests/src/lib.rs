//! Helpers shared by the end-to-end tests across the rseq crates.

pub mod child;
pub mod command;
pub mod stress;
