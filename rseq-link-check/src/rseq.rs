//! The rseq policy on top of the loader model: `resolve` (where a symbol is defined, what
//! wins, who uses which copy), `bindings`, `check` (the diagnostics catalog) and `graph`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::diag::{Code, Diagnostic, Severity};
use crate::elf::{ElfFile, Symbol, SymbolBinding, SymbolKind};
use crate::error::Result;
use crate::loader::bindings::{BindKind, Binding};
use crate::loader::{LoadReason, ModuleId, Options, Process};
use crate::report::{
    BindingEntry, BindingsReport, CheckReport, Definition, GraphNode, GraphReport, Reference,
    ResolveReport, Unresolved, Winner,
};

/// The symbol `resolve` looks at by default.
pub const RSEQ_ABI: &str = "__rseq_abi";
/// The symbols glibc 2.35+ exports from ld.so to describe its own registration.
pub const GLIBC_RSEQ_SYMBOLS: &[&str] = &["__rseq_offset", "__rseq_size", "__rseq_flags"];
/// The alignment `struct rseq` requires (`AT_RSEQ_ALIGN` on this kernel, and the uapi
/// declaration's `aligned(4 * sizeof(u64))`).
pub const RSEQ_ALIGN: u64 = 32;

/// Models the start of `program` with `opts`.
pub fn load(program: &Path, opts: &Options) -> Result<Process> {
    Process::load(program, opts)
}

fn tls_align(file: &ElfFile, sym: &Symbol<'_>) -> Option<u64> {
    if sym.kind() != SymbolKind::Tls {
        return None;
    }
    let seg = file.tls?.align.max(1);
    let off = if sym.value == 0 {
        seg
    } else {
        1u64 << sym.value.trailing_zeros().min(63)
    };
    Some(seg.min(off))
}

struct Def {
    module: ModuleId,
    def: Definition,
}

fn definitions(p: &Process, order: &[ModuleId], name: &str) -> Vec<Def> {
    let mut out = Vec::new();
    for &id in order {
        let m = &p.modules[id];
        let f = &m.file;
        let mut exported_any = false;
        f.find_dynamic(name.as_bytes(), |_, s| {
            if !s.is_undefined() {
                exported_any = true;
                let raw = s.versym.unwrap_or(1);
                let version = f
                    .version(raw & 0x7fff)
                    .filter(|v| v.filename.is_none() && v.hash != 0)
                    .map(|v| v.name.clone());
                out.push(Def {
                    module: id,
                    def: Definition {
                        module: m.name.clone(),
                        size: s.size,
                        binding: s.binding(),
                        kind: s.kind(),
                        visibility: s.visibility(),
                        version,
                        hidden_version: raw & 0x8000 != 0,
                        exported: s.binding() != SymbolBinding::Local
                            && !s.visibility().is_hidden(),
                        align: tls_align(f, &s),
                    },
                });
            }
            None::<()>
        });
        if exported_any {
            continue;
        }
        // A copy fixed at static link time: only in .symtab.
        if let Some(t) = f.symtab() {
            if let Some(s) = t
                .named(f.data(), f.endian(), name.as_bytes())
                .find(|s| !s.is_undefined() && s.kind() != SymbolKind::Section)
            {
                out.push(Def {
                    module: id,
                    def: Definition {
                        module: m.name.clone(),
                        size: s.size,
                        binding: s.binding(),
                        kind: s.kind(),
                        visibility: s.visibility(),
                        version: None,
                        hidden_version: false,
                        exported: false,
                        align: tls_align(f, &s),
                    },
                });
            }
        }
    }
    out
}

fn how(p: &Process, b: &Binding) -> &'static str {
    match b.how {
        BindKind::Local => "local",
        BindKind::Protected => "protected",
        BindKind::Loader => "loader",
        BindKind::Lookup => {
            let m = &p.modules[b.from];
            if b.to == Some(b.from)
                && m.scope
                    .first()
                    .is_some_and(|l| l.len() == 1 && l[0] == b.from)
                && m.scope.len() > 1
            {
                if p.dlopened.iter().any(|(_, mode, local)| {
                    *mode == crate::loader::DlopenMode::Deepbind && local.first() == Some(&b.from)
                }) {
                    "deepbind"
                } else {
                    "symbolic"
                }
            } else if p.dlopened.iter().any(|(_, mode, local)| {
                *mode == crate::loader::DlopenMode::Deepbind && local.contains(&b.from)
            }) {
                "deepbind"
            } else {
                "lookup"
            }
        }
    }
}

/// Diagnostics about the process as a whole: missing files and versions, initial-exec TLS
/// in dlopen'ed modules.
pub fn loader_diagnostics(p: &Process) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for m in &p.missing {
        if m.ignored {
            continue;
        }
        out.push(Diagnostic::new(
            Code::MissingDependency,
            format!(
                "{} needs {}, which is not found on the loader's search path",
                m.needed_by, m.name
            ),
        ));
    }
    for v in &p.missing_versions {
        out.push(Diagnostic::new(
            Code::MissingVersion,
            format!(
                "version `{}' not found in {} (required by {})",
                v.version, v.file, v.required_by
            ),
        ));
    }
    for (_, _, local) in &p.dlopened {
        for &id in local {
            let m = &p.modules[id];
            if m.reason == LoadReason::Dlopen
                && m.file.dynamic.as_ref().is_some_and(|d| d.static_tls())
            {
                let size = m.file.tls.map(|t| t.memsz).unwrap_or(0);
                out.push(Diagnostic::new(
                    Code::StaticTlsInDlopen,
                    format!(
                        "{} uses initial-exec TLS (DF_STATIC_TLS, {size}-byte TLS block) and is loaded by dlopen: it must fit in the static TLS surplus",
                        m.name
                    ),
                ));
            }
        }
    }
    out
}

fn names(p: &Process, ids: &[ModuleId]) -> Vec<String> {
    ids.iter().map(|&i| p.modules[i].name.clone()).collect()
}

/// Where `symbol` is defined, which definition wins, and which definition each module uses.
pub fn resolve(p: &Process, symbol: &str) -> ResolveReport {
    let order = p.load_order();
    let defs = definitions(p, &order, symbol);
    let bindings = p.bindings_for(Some(symbol.as_bytes()));

    // References: one per module, from its dynamic relocations, else from a copy of its own.
    let mut references: Vec<Reference> = Vec::new();
    let mut ref_modules: Vec<ModuleId> = Vec::new();
    let mut targets: Vec<(ModuleId, Option<ModuleId>, &'static str)> = Vec::new();
    for b in bindings.iter().filter(|b| b.how != BindKind::Loader) {
        if ref_modules.contains(&b.from) {
            continue;
        }
        ref_modules.push(b.from);
        targets.push((b.from, b.to, how(p, b)));
    }
    for d in &defs {
        if !ref_modules.contains(&d.module) {
            ref_modules.push(d.module);
            targets.push((d.module, Some(d.module), "static"));
        }
    }
    for &(from, to, how) in &targets {
        let own = defs.iter().find(|d| d.module == from).map(|d| d.def.size);
        let undef_size = || {
            let f = &p.modules[from].file;
            f.find_dynamic(symbol.as_bytes(), |_, s| {
                (s.is_undefined() && s.size != 0).then_some(s.size)
            })
            .or_else(|| {
                f.dynamic_symbols()
                    .find(|s| s.name == symbol.as_bytes() && s.is_undefined() && s.size != 0)
                    .map(|s| s.size)
            })
        };
        references.push(Reference {
            module: p.modules[from].name.clone(),
            binds_to: to.map(|t| p.modules[t].name.clone()),
            how: how.to_string(),
            size: own.or_else(undef_size),
        });
    }

    // Winner: the executable's own dynamic reference, else dlsym(RTLD_DEFAULT).
    let exe_binding = bindings.iter().find(|b| {
        b.from == 0 && b.how != BindKind::Local && b.how != BindKind::Loader && b.to.is_some()
    });
    let winner_found = match exe_binding {
        Some(b) => b.to.zip(b.to_sym),
        None => p.dlsym_default(symbol).map(|f| (f.module, f.sym)),
    };
    let winner = winner_found.map(|(m, s)| Winner {
        module: p.modules[m].name.clone(),
        size: p.modules[m]
            .file
            .dynamic_symbol(s)
            .map(|s| s.size)
            .unwrap_or(0),
    });

    let mut diagnostics = loader_diagnostics(p);
    if symbol == RSEQ_ABI {
        diagnostics.extend(rseq_abi_diagnostics(p, &defs, &references, winner.as_ref()));
    }
    ResolveReport {
        program: p.main().name.clone(),
        symbol: symbol.to_string(),
        load_order: names(p, &order),
        definitions: defs.into_iter().map(|d| d.def).collect(),
        winner,
        references,
        diagnostics,
    }
}

fn glibc_registrar(p: &Process) -> Option<ModuleId> {
    if !p.options.glibc_registers_rseq() {
        return None;
    }
    p.global.iter().copied().find(|&id| {
        let f = &p.modules[id].file;
        f.find_dynamic(b"__rseq_offset", |_, s| {
            let v = s.versym.and_then(|v| f.version(v & 0x7fff));
            (!s.is_undefined() && v.is_some_and(|v| v.name == "GLIBC_2.35")).then_some(())
        })
        .is_some()
    })
}

/// Whether a module finds the C library's rseq area itself, as glibc 2.35's interface asks:
/// it references `__rseq_offset` or `__rseq_size` (undefined in `.dynsym`, usually weak), or
/// holds the NUL-terminated name `__rseq_offset` for a `dlsym` lookup. Such a module can use
/// the area glibc registered rather than register its own. (A static heuristic: whether it
/// really takes that path at run time is not visible in the file.)
fn reads_glibc_area(f: &ElfFile) -> bool {
    let references = |name: &[u8]| {
        f.find_dynamic(name, |_, s| s.is_undefined().then_some(()))
            .is_some()
    };
    references(b"__rseq_offset")
        || references(b"__rseq_size")
        || memchr::memmem::find(f.data(), b"__rseq_offset\0").is_some()
}

fn rseq_abi_diagnostics(
    p: &Process,
    defs: &[Def],
    refs: &[Reference],
    winner: Option<&Winner>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for d in defs {
        if d.def.kind != SymbolKind::Tls {
            out.push(Diagnostic::new(
                Code::NonTlsDefinition,
                format!(
                    "{} defines {} as a {} {} ({} bytes), not thread-local",
                    d.def.module, RSEQ_ABI, d.def.binding, d.def.kind, d.def.size
                ),
            ));
        }
        if let Some(a) = d.def.align {
            if a < RSEQ_ALIGN {
                out.push(Diagnostic::new(
                    Code::UnderAligned,
                    format!(
                        "{}'s {} is only {a}-byte aligned; registration needs {RSEQ_ALIGN}",
                        d.def.module, RSEQ_ABI
                    ),
                ));
            }
        }
    }
    if let Some(reg) = glibc_registrar(p) {
        let glibc = &p.modules[reg].name;
        for d in defs.iter().filter(|d| d.def.kind == SymbolKind::Tls) {
            if !reads_glibc_area(&p.modules[d.module].file) {
                out.push(Diagnostic::new(
                    Code::GlibcOwnsRegistration,
                    format!(
                        "the C library registers rseq for every thread ({glibc} exports __rseq_offset@GLIBC_2.35), and {} defines its own {RSEQ_ABI} ({} bytes): registering it fails (EINVAL: the thread already has an area), and an unregistered area is never updated",
                        d.def.module, d.def.size
                    ),
                ));
                continue;
            }
            // The definer finds glibc's area itself; whoever else reads its __rseq_abi
            // without doing the same reads an area nobody registers.
            let blind: Vec<&Reference> = refs
                .iter()
                .filter(|r| {
                    r.module != d.def.module
                        && r.binds_to.as_deref() == Some(d.def.module.as_str())
                        && !p
                            .modules
                            .iter()
                            .find(|m| m.name == r.module)
                            .is_some_and(|m| reads_glibc_area(&m.file))
                })
                .collect();
            if blind.is_empty() {
                let mut diag = Diagnostic::new(
                    Code::GlibcOwnsRegistration,
                    format!(
                        "the C library registers rseq for every thread ({glibc} exports __rseq_offset@GLIBC_2.35); {} defines its own {RSEQ_ABI} ({} bytes) but also looks up __rseq_offset, so it can use the C library's area: its own stays unregistered, and no other module reads it",
                        d.def.module, d.def.size
                    ),
                );
                diag.severity = Severity::Warning;
                out.push(diag);
            }
            for r in blind {
                out.push(Diagnostic::new(
                    Code::GlibcOwnsRegistration,
                    format!(
                        "{} reads {}'s {RSEQ_ABI}, which nobody registers: the C library registered its own area ({glibc} exports __rseq_offset@GLIBC_2.35), and {} uses that one",
                        r.module, d.def.module, d.def.module
                    ),
                ));
            }
        }
    }
    let sizes: BTreeSet<u64> = defs.iter().map(|d| d.def.size).collect();
    if sizes.len() > 1 {
        let list = defs
            .iter()
            .map(|d| format!("{} ({} bytes)", d.def.module, d.def.size))
            .collect::<Vec<_>>()
            .join(", ");
        let too_small: Vec<&Reference> = match winner {
            Some(w) => refs
                .iter()
                .filter(|r| {
                    r.binds_to.as_deref() == Some(w.module.as_str())
                        && r.size.is_some_and(|s| s > w.size)
                })
                .collect(),
            None => Vec::new(),
        };
        match (winner, too_small.is_empty()) {
            (Some(w), false) => {
                for r in too_small {
                    out.push(Diagnostic::new(
                        Code::WinnerTooSmall,
                        format!(
                            "{} was built for a {}-byte {} but binds to {}'s {}-byte definition (definitions: {list})",
                            r.module,
                            r.size.unwrap_or(0),
                            RSEQ_ABI,
                            w.module,
                            w.size
                        ),
                    ));
                }
            }
            _ => out.push(Diagnostic::new(
                Code::SizeMismatch,
                format!("{RSEQ_ABI} is defined with different sizes: {list}"),
            )),
        }
    }
    let targets: BTreeSet<Option<&str>> = refs.iter().map(|r| r.binds_to.as_deref()).collect();
    if targets.len() > 1 {
        let list = refs
            .iter()
            .map(|r| {
                format!(
                    "{} -> {} ({})",
                    r.module,
                    r.binds_to.as_deref().unwrap_or("nothing"),
                    r.how
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        out.push(Diagnostic::new(
            Code::SplitInstance,
            format!(
                "{} distinct {} instances are in use: {list}",
                targets.len(),
                RSEQ_ABI
            ),
        ));
    }
    out
}

/// Unversioned definitions of glibc's rseq symbols that capture references meant for ld.so.
fn capture_diagnostics(p: &Process) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for name in GLIBC_RSEQ_SYMBOLS {
        for b in p.bindings_for(Some(name.as_bytes())) {
            let (Some(to), Some(sym)) = (b.to, b.to_sym) else {
                continue;
            };
            if b.version.is_none() || to == b.from {
                continue;
            }
            let f = &p.modules[to].file;
            let versioned = f
                .dynamic_symbol(sym)
                .and_then(|s| s.versym)
                .and_then(|v| f.version(v & 0x7fff))
                .is_some_and(|v| v.hash != 0);
            if !versioned {
                out.push(Diagnostic::new(
                    Code::CapturesGlibcRseqSymbol,
                    format!(
                        "{}'s reference to {}@{} binds to an unversioned definition in {} instead of the dynamic loader's",
                        p.modules[b.from].name,
                        name,
                        b.version.as_deref().unwrap_or(""),
                        p.modules[to].name
                    ),
                ));
            }
        }
    }
    out
}

/// Every binding `LD_DEBUG=bindings` would print with immediate binding.
pub fn bindings(p: &Process) -> BindingsReport {
    let mut all = p.bindings_for(None);
    all.retain(|b| b.how.printed());
    let mut bindings = Vec::with_capacity(all.len());
    let mut unresolved = Vec::new();
    for b in all {
        match b.to {
            Some(to) => bindings.push(BindingEntry {
                from: p.modules[b.from].name.clone(),
                symbol: b.symbol,
                version: b.version,
                to: p.modules[to].name.clone(),
            }),
            None => unresolved.push(Unresolved {
                from: p.modules[b.from].name.clone(),
                symbol: b.symbol,
                version: b.version,
            }),
        }
    }
    BindingsReport {
        program: p.main().name.clone(),
        load_order: names(p, &p.load_order()),
        bindings,
        unresolved,
        diagnostics: loader_diagnostics(p),
    }
}

/// The rseq policy verdict.
pub fn check(p: &Process) -> CheckReport {
    let r = resolve(p, RSEQ_ABI);
    let mut diagnostics = r.diagnostics;
    diagnostics.extend(capture_diagnostics(p));
    CheckReport {
        program: r.program,
        load_order: r.load_order,
        diagnostics,
    }
}

/// The load graph with the winning and losing definitions of `symbol`.
pub fn graph(p: &Process, symbol: &str) -> GraphReport {
    let r = resolve(p, symbol);
    let order = p.load_order();
    let nodes = order
        .iter()
        .map(|&id| {
            let m = &p.modules[id];
            let def = r.definitions.iter().find(|d| d.module == m.name);
            let role = def.map(|d| {
                if !d.exported {
                    "private".to_string()
                } else if r.winner.as_ref().is_some_and(|w| w.module == m.name) {
                    "winner".to_string()
                } else {
                    "loser".to_string()
                }
            });
            GraphNode {
                module: m.name.clone(),
                reason: serde_json::to_value(m.reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                definition: role,
                size: def.map(|d| d.size),
            }
        })
        .collect();
    let mut needed = Vec::new();
    for &id in &order {
        for &d in &p.modules[id].needed {
            needed.push((p.modules[id].name.clone(), p.modules[d].name.clone()));
        }
    }
    let binds = r
        .references
        .iter()
        .filter_map(|x| x.binds_to.clone().map(|t| (x.module.clone(), t)))
        .collect();
    GraphReport {
        program: r.program,
        symbol: r.symbol,
        nodes,
        needed,
        binds,
        diagnostics: r.diagnostics,
    }
}
