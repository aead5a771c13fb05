//! `#[rseq_critical]`: turns a small Rust DSL into restartable-sequence critical sections.
