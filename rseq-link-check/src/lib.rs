//! ELF analysis for rseq: loader-model symbol resolution, link checks and critical-section
//! verification.
//!
//! The API is at the crate root; every analysis returns a report value, and [`emit`]
//! renders any report in the [`Format`] asked for:
//!
//! - The loader model (a program as glibc's dynamic loader would start it): [`load`] a
//!   [`Process`] with [`Options`], then [`resolve`] one symbol, list every binding
//!   ([`bindings`]), [`check`] every rule of the catalog, or draw the load [`graph`].
//! - Critical sections: [`verify_file`] checks every `struct rseq_cs` of an ELF file;
//!   [`listing_for_file`] lists them annotated for review, [`diff_files`] compares them
//!   between two builds, and [`inject()`] runs a program under ptrace and injects an abort
//!   at each instruction boundary of each section it reaches (x86_64).
//! - Build time: [`predict_command`] predicts the static link of a `cc` link line;
//!   [`buildscript`] is the `build.rs` API, [`wrapper`] the linker wrapper and
//!   [`cargo_rseq`] the `cargo rseq check` subcommand.
//! - Diagnostics: every finding carries a [`Code`] of one catalog (with [`VerifyCode`] for
//!   the verifier's rules); [`explain()`] returns its long form.
//! - Errors and exit statuses: [`Error`], [`ExitStatus`]; [`cli`] holds what the
//!   `rseq-link-check` binary does beyond parsing its arguments.
//! - The running process: [`runtime`] is the in-process ground truth the static analysis
//!   predicts (who registered rseq, which `__rseq_abi` the loader resolved).
//!
//! Inside, one private module per concern: `elf` (each file mapped and parsed once),
//! `loader` (the loader model), `analysis` (the rseq policy on top), `link` (static link
//! prediction), `verify`, `asm` and `inject` (critical sections; `inject::ptrace` holds the
//! injector's `unsafe` code), `diag` (the catalog), `report` and
//! `render` (report values and their renderers), `explain`, `error`.
#![deny(unsafe_code)]

mod analysis;
mod asm;
pub mod buildscript;
pub mod cargo_rseq;
pub mod cli;
mod diag;
mod elf;
mod error;
mod explain;
mod inject;
mod link;
mod loader;
mod render;
mod report;
pub mod runtime;
mod verify;
pub mod wrapper;

pub use analysis::{bindings, check, check_for_kernel, graph, load, resolve, KernelRseq, RSEQ_ABI};
pub use asm::{
    diff_files, listing_for_file, AsmDiff, AsmListing, DiffLine, DiffSide, Line, Marker,
    SectionChange, SectionDiff, SectionListing,
};
pub use diag::{Catalog, Code, Diagnostic, Severity, VerifyCode, CATALOG};
pub use error::{Error, ExitStatus, Result};
pub use explain::{explain, ExplainReport, Explanation};
pub use inject::{
    inject, parse_signal, sections_of, BoundaryCoverage, InjectFailure, InjectOptions,
    InjectReport, Injection, InjectionPoint, ProgramExit, Section, SectionCoverage,
};
pub use link::{
    predict_command, Level, LinkError, LinkPrediction, LinkReport, Policy, UnknownCode,
};
pub use loader::{DlopenMode, Options, Process};
pub use render::{emit, ColorChoice, Format, Render, RenderOptions};
pub use report::{
    BindingEntry, BindingsReport, CheckReport, Definition, GraphNode, GraphReport, Outcome,
    Reference, ResolveReport, Unresolved, Winner,
};
pub use verify::{verify_file, FileType, Finding, Machine, SectionReport, VerifyReport};

/// Internals for the fuzz targets and the test suites. Not API: no documentation, no
/// stability; everything else in this crate is reached from the root.
#[doc(hidden)]
pub mod __fuzz {
    /// The rseq policy over the loader model.
    pub mod analysis {
        pub use crate::analysis::*;
    }
    /// Critical-section listings.
    pub mod asm {
        pub use crate::asm::*;
    }
    /// The ELF reader.
    pub mod elf {
        pub use crate::elf::*;
    }
    /// The static link model.
    pub mod link {
        pub use crate::link::*;
    }
    /// The dynamic loader model.
    pub mod loader {
        pub use crate::loader::*;
    }
    /// The renderers.
    pub mod render {
        pub use crate::render::*;
    }
    /// The critical-section verifier.
    pub mod verify {
        pub use crate::verify::*;
    }
}
