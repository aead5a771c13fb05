//! The rseq policy on top of the loader model, one report per module: [`resolve`] (where
//! a symbol is defined, what wins, who uses which copy), [`bindings`] (what
//! `LD_DEBUG=bindings` prints), [`check`] (every rule of the diagnostics catalog) and
//! [`graph`] (the load graph with winning and losing definitions).

mod bindings;
mod check;
mod definitions;
mod graph;
mod kernel;
mod registration;
mod resolve;
mod rules;
mod uses;

use std::path::Path;

use crate::error::Result;
use crate::loader::{ModuleId, Options, Process};

pub use bindings::bindings;
pub use check::{check, check_for_kernel};
pub use graph::graph;
pub use kernel::KernelRseq;
pub use registration::DEFERS_TO_GLIBC_MARKER_STR;
pub use resolve::resolve;
pub use rules::loader_diagnostics;

/// The symbol `resolve` looks at by default.
pub const RSEQ_ABI: &str = "__rseq_abi";
/// The symbols glibc 2.35+ exports from ld.so to describe its own registration.
pub const GLIBC_RSEQ_SYMBOLS: &[&str] = &["__rseq_offset", "__rseq_size", "__rseq_flags"];
/// The alignment `struct rseq` requires (`AT_RSEQ_ALIGN` on this kernel, and the uapi
/// declaration's `aligned(4 * sizeof(u64))`).
pub const RSEQ_ALIGN: u64 = 32;
/// The smallest length the rseq system call accepts (the original `struct rseq`).
pub const RSEQ_MIN_SIZE: u64 = 32;

/// Models the start of `program` with `opts`.
pub fn load(program: &Path, opts: &Options) -> Result<Process> {
    Process::load(program, opts)
}

pub(crate) fn names(p: &Process, ids: &[ModuleId]) -> Vec<String> {
    ids.iter().map(|&i| p.modules[i].name.clone()).collect()
}
