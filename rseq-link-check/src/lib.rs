//! ELF analysis for rseq: loader-model symbol resolution, link checks and critical-section verification.
//!
//! - [`elf`]: each file mapped once and parsed once (`object`, `memmap2`).
//! - [`loader`]: a model of glibc's dynamic loader: load order, search paths, symbol lookup.
//! - [`analysis`]: the rseq policy on top (`resolve`, `bindings`, `check`, `graph`), producing [`diag::Diagnostic`]s.
//! - [`report`]: report values; [`render`]: their renderers (human, JSON, DOT), chosen in one place.
//! - [`link`]: build time: static link prediction (GNU ld and lld rules), the build-script
//!   API and the linker wrapper.
#![deny(unsafe_code)]

pub mod analysis;
pub mod diag;
pub mod elf;
pub mod error;
pub mod explain;
pub mod link;
pub mod loader;
pub mod render;
pub mod report;

pub use error::{Error, ExitStatus, Result};
pub use link::buildscript;
pub mod asm;
pub mod cli;
pub mod verify;
