//! The rules of the loader part of the diagnostics catalog: what the process as a whole
//! does wrong (missing files and versions, initial-exec TLS in dlopen'ed modules), what the
//! definitions of `__rseq_abi` and the modules using them do wrong, and unversioned copies
//! of glibc's rseq symbols that capture the C library's own references.

use std::collections::BTreeSet;

use super::definitions::Def;
use super::registration::{defers_to_glibc, registration_evidence};
use super::{GLIBC_RSEQ_SYMBOLS, RSEQ_ABI, RSEQ_ALIGN, RSEQ_MIN_SIZE};
use crate::diag::{Code, Diagnostic, Severity};
use crate::elf::{ElfFile, SymbolKind};
use crate::loader::bindings::{BindKind, Binding};
use crate::loader::{LoadReason, ModuleId, Process};
use crate::report::{Reference, Winner};

/// Diagnostics about the process as a whole: missing files and versions, initial-exec TLS
/// in dlopen'ed modules.
pub fn loader_diagnostics(p: &Process) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for m in &p.missing {
        if m.ignored && m.needed_by != "dlopen" {
            // `elf/rtld.c` prints this and goes on without the object.
            let mut diag = Diagnostic::new(
                Code::PreloadNotFound,
                format!(
                    "{} (from {}) is not found: ld.so prints \"ERROR: ld.so: object '{}' from {} cannot be preloaded (cannot open shared object file): ignored.\" and starts without it",
                    m.name, m.needed_by, m.name, m.needed_by
                ),
            );
            diag.severity = Severity::Warning;
            out.push(diag);
            continue;
        }
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

/// Weak undefined thread-local references nothing defines: the loader resolves them to
/// module ID 0, and the address the module computes is meaningless.
pub(super) fn weak_undefined_tls_diagnostics(p: &Process, bindings: &[Binding]) -> Vec<Diagnostic> {
    bindings
        .iter()
        .filter(|b| b.how == BindKind::WeakUndefined)
        .filter(|b| {
            b.from_sym
                .and_then(|s| p.modules[b.from].file.dynamic_symbol(s))
                .is_some_and(|s| s.kind() == SymbolKind::Tls)
        })
        .map(|b| {
            Diagnostic::new(
                Code::WeakUndefinedTls,
                format!(
                    "{} references the thread-local {} weakly and no loaded module defines it: the loader resolves it to module ID 0, so the address the module computes is not NULL and points at no {}",
                    p.modules[b.from].name, b.symbol, b.symbol
                ),
            )
        })
        .collect()
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

pub(super) fn rseq_abi_diagnostics(
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
        if d.def.kind == SymbolKind::Tls && d.def.size < RSEQ_MIN_SIZE {
            out.push(Diagnostic::new(
                Code::TooSmallToRegister,
                format!(
                    "{}'s {} is {} bytes, smaller than the {RSEQ_MIN_SIZE} bytes of struct rseq the kernel registers",
                    d.def.module, RSEQ_ABI, d.def.size
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
            let file = &p.modules[d.module].file;
            // rseq-abi's legacy area: registered only while the C library does not.
            let defers = defers_to_glibc(file);
            if !defers && !reads_glibc_area(file) {
                out.push(match registration_evidence(file) {
                    Some(evidence) => Diagnostic::new(
                        Code::GlibcOwnsRegistration,
                        format!(
                            "the C library registers rseq for every thread ({glibc} exports __rseq_offset@GLIBC_2.35), and {} defines its own {RSEQ_ABI} ({} bytes) and registers it ({evidence}): registering it fails (EINVAL: the thread already has an area), and an unregistered area is never updated",
                            d.def.module, d.def.size
                        ),
                    ),
                    None => {
                        let mut diag = Diagnostic::new(
                            Code::GlibcOwnsRegistration,
                            format!(
                                "the C library registers rseq for every thread ({glibc} exports __rseq_offset@GLIBC_2.35), and {} defines its own {RSEQ_ABI} ({} bytes); assumed: it does not register it (no rseq system call or registration function in its code) and reads it only where it can take an unregistered area (cpu_id stays -1); if it does register it, that fails with EINVAL",
                                d.def.module, d.def.size
                            ),
                        );
                        diag.severity = Severity::Warning;
                        diag
                    }
                });
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
            if blind.is_empty() && !defers {
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
pub(super) fn capture_diagnostics(p: &Process) -> Vec<Diagnostic> {
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
