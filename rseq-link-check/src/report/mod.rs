//! Report values returned by the loader-model analyses. They hold plain data (module
//! names, sizes, diagnostics) and know nothing about output formats; [`crate::render`]
//! turns them into text, JSON or Graphviz DOT. [`Outcome`] is what every report (of any
//! analysis) says about the process exit status.

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::elf::{SymbolBinding, SymbolKind, Visibility};
use crate::error::ExitStatus;

/// The exit status a report calls for.
pub trait Outcome {
    /// [`ExitStatus::Clean`] or [`ExitStatus::Findings`].
    fn exit_status(&self) -> ExitStatus;
}

/// One definition of the resolved symbol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Definition {
    /// The defining module, as the loader names it.
    pub module: String,
    /// `st_size`.
    pub size: u64,
    /// `global`, `weak`, `unique` or `local`.
    pub binding: SymbolBinding,
    /// `tls`, `object`, `func`, `notype`, `ifunc`, `common`, ...
    #[serde(rename = "type")]
    pub kind: SymbolKind,
    /// `default`, `protected`, `hidden` or `internal`.
    pub visibility: Visibility,
    /// The version it is defined with (`None` for an unversioned definition).
    pub version: Option<String>,
    /// True when the definition is hidden behind a non-default version (`sym@VER`).
    pub hidden_version: bool,
    /// True when it is in `.dynsym` and can be bound to by other modules; false for a copy
    /// visible only in `.symtab`.
    pub exported: bool,
    /// For TLS definitions, the alignment the definition is guaranteed (segment alignment
    /// combined with its offset).
    pub align: Option<u64>,
}

/// The definition a lookup selected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Winner {
    /// The defining module.
    pub module: String,
    /// `st_size` of the definition.
    pub size: u64,
}

/// A module whose code uses the symbol, and the definition it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// The referencing module.
    pub module: String,
    /// The module whose definition it uses; `None` when unresolved (or weak and undefined).
    pub binds_to: Option<String>,
    /// Why: `lookup` (dynamic lookup in scope order), `protected`, `symbolic` (DT_SYMBOLIC),
    /// `deepbind`, `local` (a hidden or local symbol in `.dynsym`), `static` (resolved by the
    /// static linker to the module's own copy; no dynamic relocation remains), or
    /// `weak-undefined` (a weak reference nothing defines: the loader resolves it to 0).
    pub how: String,
    /// The size the module was built for: its own definition's or its reference's `st_size`.
    pub size: Option<u64>,
}

/// The answer of `resolve`: where one symbol is defined and who binds to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResolveReport {
    /// The analysed program.
    pub program: String,
    /// The symbol.
    pub symbol: String,
    /// The load order (paths as the loader would find them).
    pub load_order: Vec<String>,
    /// Every definition, in load order.
    pub definitions: Vec<Definition>,
    /// The executable's binding, or what `dlsym(RTLD_DEFAULT, symbol)` returns.
    pub winner: Option<Winner>,
    /// Every module whose code uses the symbol.
    pub references: Vec<Reference>,
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
}

/// One line of `LD_DEBUG=bindings`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BindingEntry {
    /// The referencing module.
    pub from: String,
    /// The symbol.
    pub symbol: String,
    /// The version requested.
    pub version: Option<String>,
    /// The defining module.
    pub to: String,
}

/// A reference nothing defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    /// The referencing module.
    pub from: String,
    /// The symbol.
    pub symbol: String,
    /// The version requested.
    pub version: Option<String>,
}

/// The answer of `bindings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BindingsReport {
    /// The analysed program.
    pub program: String,
    /// The load order.
    pub load_order: Vec<String>,
    /// Every binding `LD_DEBUG=bindings` would print with immediate binding (unique tuples).
    pub bindings: Vec<BindingEntry>,
    /// Strong references that nothing defines (a symbol lookup error at run time).
    pub unresolved: Vec<Unresolved>,
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
}

/// The answer of `check`: the rseq policy verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CheckReport {
    /// The analysed program.
    pub program: String,
    /// The load order.
    pub load_order: Vec<String>,
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
}

/// A node of the load graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphNode {
    /// The module.
    pub module: String,
    /// Why it is loaded (`executable`, `preload`, `needed`, `interpreter`, `dlopen`).
    pub reason: String,
    /// Its definition of the symbol: `winner`, `loser`, `private`, or `None`.
    pub definition: Option<String>,
    /// Size of its definition, if any.
    pub size: Option<u64>,
}

/// The answer of `graph`: the load graph with winning and losing definitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GraphReport {
    /// The analysed program.
    pub program: String,
    /// The symbol.
    pub symbol: String,
    /// The modules, in load order.
    pub nodes: Vec<GraphNode>,
    /// DT_NEEDED edges (`from` needs `to`).
    pub needed: Vec<(String, String)>,
    /// Symbol binding edges (`from` uses the definition in `to`).
    pub binds: Vec<(String, String)>,
    /// Findings.
    pub diagnostics: Vec<Diagnostic>,
}

fn status_of(diags: &[Diagnostic]) -> ExitStatus {
    if diags.iter().any(Diagnostic::is_error) {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

impl ResolveReport {
    /// 1 when any finding is an error, else 0.
    pub fn exit_status(&self) -> ExitStatus {
        status_of(&self.diagnostics)
    }
}
impl BindingsReport {
    /// 1 when any finding is an error, else 0.
    pub fn exit_status(&self) -> ExitStatus {
        status_of(&self.diagnostics)
    }
}
impl CheckReport {
    /// 1 when any finding is an error, else 0.
    pub fn exit_status(&self) -> ExitStatus {
        status_of(&self.diagnostics)
    }
}
impl GraphReport {
    /// 1 when any finding is an error, else 0.
    pub fn exit_status(&self) -> ExitStatus {
        status_of(&self.diagnostics)
    }
}

macro_rules! outcome_from_diagnostics {
    ($($t:ty),*) => {$(
        impl Outcome for $t {
            fn exit_status(&self) -> ExitStatus {
                status_of(&self.diagnostics)
            }
        }
    )*};
}
outcome_from_diagnostics!(ResolveReport, BindingsReport, CheckReport, GraphReport);

impl Outcome for crate::explain::ExplainReport {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::Clean
    }
}
