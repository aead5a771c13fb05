//! ELF analysis for rseq: loader-model symbol resolution, link checks and critical-section verification.
//!
//! - [`elf`]: each file mapped once and parsed once (`object`, `memmap2`).
//! - [`loader`]: a model of glibc's dynamic loader: load order, search paths, symbol lookup.
//! - [`rseq`]: the rseq policy on top (`resolve`, `check`), producing [`diag::Diagnostic`]s.
//! - [`report`]: report values and their renderers (human, JSON, DOT).
//! - [`link`]: build time: static link prediction (GNU ld and lld rules), the build-script
//!   API and the linker wrapper.
//! - [`runtime`]: the in-process ground truth the static analysis predicts: who registered
//!   rseq in the running process and which `__rseq_abi` the loader resolved.
#![deny(unsafe_code)]

pub mod diag;
pub mod elf;
pub mod error;
pub mod link;
pub mod loader;
pub mod report;
pub mod rseq;
pub mod runtime;

pub use error::{Error, ExitStatus, Result};
pub use link::buildscript;
pub mod asm;
pub mod verify;
