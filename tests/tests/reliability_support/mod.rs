//! Support for the reliability tests: the ptrace abort-injection harness.

pub mod injection;
