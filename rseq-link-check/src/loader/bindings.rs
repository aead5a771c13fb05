//! Relocation processing: every symbol reference of every loaded module, looked up in that
//! module's scope, as `_dl_relocate_object` does with immediate binding. The result is what
//! `LD_DEBUG=bindings` prints (plus the references that bind locally, which it does not print).

use serde::Serialize;

use super::lookup::{self, Found, LookupState, Request};
use super::{ModuleId, Process};
use crate::elf::{SymbolBinding, VersionEntry};

/// One resolved reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Binding {
    /// The referencing module.
    pub from: ModuleId,
    /// Index of the referencing symbol in the referencing module's `.dynsym` (`None` for the
    /// loader's own lookups).
    #[serde(skip)]
    pub from_sym: Option<u32>,
    /// The symbol name.
    pub symbol: String,
    /// The version requested by the reference, if any.
    pub version: Option<String>,
    /// The defining module; `None` when nothing defines it.
    pub to: Option<ModuleId>,
    /// Index of the definition in the defining module's `.dynsym`.
    #[serde(skip)]
    pub to_sym: Option<u32>,
    /// How the reference was resolved.
    pub how: BindKind,
}

/// How a reference was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BindKind {
    /// A lookup in the module's scope (printed by `LD_DEBUG=bindings` as "normal").
    Lookup,
    /// A lookup where the protected rule kept the module's own definition ("protected").
    Protected,
    /// A local or hidden symbol: the module's own definition, no lookup.
    Local,
    /// A lookup the loader performs itself (`__rtld_malloc_init_real`, vDSO set-up).
    Loader,
    /// A weak undefined reference nothing defines: the loader resolves it to 0 (for TLS,
    /// module ID 0 and offset 0) without printing anything.
    WeakUndefined,
}

impl BindKind {
    /// True when `LD_DEBUG=bindings` prints this binding.
    pub fn printed(self) -> bool {
        !matches!(self, BindKind::Local | BindKind::WeakUndefined)
    }
}

/// The version glibc's `__rtld_malloc_init_real` asks for (`GLIBC_2.0` mapped to the
/// architecture's first version).
fn malloc_version(machine: crate::elf::Machine) -> &'static str {
    match machine {
        crate::elf::Machine::X86_64 => "GLIBC_2.2.5",
        crate::elf::Machine::Aarch64 => "GLIBC_2.17",
    }
}

fn vdso_symbols(machine: crate::elf::Machine) -> (&'static [&'static str], &'static str) {
    match machine {
        crate::elf::Machine::X86_64 => (
            &[
                "__vdso_clock_gettime",
                "__vdso_gettimeofday",
                "__vdso_time",
                "__vdso_getcpu",
                "__vdso_clock_getres",
            ],
            "LINUX_2.6",
        ),
        crate::elf::Machine::Aarch64 => (
            &[
                "__kernel_clock_gettime",
                "__kernel_gettimeofday",
                "__kernel_clock_getres",
            ],
            "LINUX_2.6.39",
        ),
    }
}

/// The SysV ELF hash of a version name (`_dl_elf_hash`).
fn version_entry(name: &str) -> VersionEntry {
    VersionEntry {
        name: name.to_string(),
        hash: crate::elf::hash::elf_hash(name.as_bytes()),
        hidden: false,
        filename: None,
    }
}

impl Process {
    /// Resolves every dynamic symbol reference of every loaded module, in relocation order
    /// (reverse load order, the interpreter last), and the loader's own lookups.
    pub fn bindings(&self) -> Vec<Binding> {
        self.bindings_for(None)
    }

    /// Like [`Process::bindings`], restricted to references to `only` when given.
    pub fn bindings_for(&self, only: Option<&[u8]>) -> Vec<Binding> {
        let wanted = |name: &[u8]| only.is_none_or(|o| o == name);
        let mut state = LookupState::default();
        let mut out = Vec::new();
        // Start-up objects in reverse load order with the interpreter last, then each
        // dlopen's new objects in reverse order.
        let interp: Vec<ModuleId> = self
            .global
            .iter()
            .copied()
            .filter(|&id| self.modules[id].reason == super::LoadReason::Interpreter)
            .collect();
        let mut reloc_order: Vec<ModuleId> = self
            .global
            .iter()
            .rev()
            .copied()
            .filter(|id| !interp.contains(id))
            .collect();
        if !self.options.trace {
            reloc_order.extend(interp.iter().copied());
        }
        for (_, _, local) in &self.dlopened {
            for &id in local.iter().rev() {
                if !reloc_order.contains(&id) {
                    reloc_order.push(id);
                }
            }
        }

        if let Some(v) = self.vdso {
            let (names, version) = vdso_symbols(self.machine);
            let ver = version_entry(version);
            for name in names.iter().filter(|n| wanted(n.as_bytes())) {
                self.push_lookup(
                    &mut state,
                    &mut out,
                    v,
                    name.as_bytes(),
                    None,
                    Some(&ver),
                    0,
                    BindKind::Loader,
                );
            }
        }
        for &id in &reloc_order {
            let m = &self.modules[id];
            let mut seen = vec![0u8; m.file.dynsym().map_or(0, |t| t.len())];
            // The target each symbol was bound to, so that a second relocation class binding
            // the same symbol to the same module is recorded once.
            let mut bound = vec![0u32; seen.len()];
            for r in m.file.symbol_relocs() {
                let Some(sym) = m.file.dynamic_symbol(r.sym) else {
                    continue;
                };
                if !wanted(sym.name) {
                    continue;
                }
                let class = lookup::type_class(self.machine, r.r_type);
                // glibc's per-module lookup cache: one lookup per symbol and class.
                let Some(slot) = seen.get_mut(r.sym as usize) else {
                    continue;
                };
                if *slot & (1 << class) != 0 {
                    continue;
                }
                *slot |= 1 << class;
                if sym.binding() == SymbolBinding::Local || sym.visibility().is_hidden() {
                    let b = Binding {
                        from: id,
                        from_sym: Some(r.sym),
                        symbol: sym.name_str(),
                        version: None,
                        to: Some(id),
                        to_sym: Some(r.sym),
                        how: BindKind::Local,
                    };
                    out.push(b);
                    continue;
                }
                let version = sym
                    .versym
                    .and_then(|v| m.file.version(v & 0x7fff))
                    .filter(|v| v.hash != 0);
                let before = out.len();
                self.push_lookup(
                    &mut state,
                    &mut out,
                    id,
                    sym.name,
                    Some(sym),
                    version,
                    class,
                    BindKind::Lookup,
                );
                if let Some(b) = out.get(before) {
                    let key = b.to.map_or(u32::MAX, |t| t as u32 + 1);
                    if bound[r.sym as usize] == key {
                        out.truncate(before);
                    } else if bound[r.sym as usize] == 0 {
                        bound[r.sym as usize] = key;
                    }
                }
            }
            if id == 0
                && !self.options.trace
                && self
                    .global
                    .iter()
                    .any(|&g| self.modules[g].file.soname() == Some("libc.so.6"))
            {
                // rtld's __rtld_malloc_init_real looks these up in the executable's scope
                // once relocation of the initial objects is done.
                let ver = version_entry(malloc_version(self.machine));
                for name in ["calloc", "free", "malloc", "realloc"]
                    .into_iter()
                    .filter(|n| wanted(n.as_bytes()))
                {
                    self.push_lookup(
                        &mut state,
                        &mut out,
                        0,
                        name.as_bytes(),
                        None,
                        Some(&ver),
                        0,
                        BindKind::Loader,
                    );
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn push_lookup(
        &self,
        state: &mut LookupState,
        out: &mut Vec<Binding>,
        from: ModuleId,
        name: &[u8],
        reference: Option<crate::elf::Symbol<'_>>,
        version: Option<&VersionEntry>,
        class: u32,
        kind: BindKind,
    ) {
        let req = Request {
            name,
            from,
            reference,
            version,
            type_class: class,
            flags: 0,
        };
        let found = lookup::lookup(self, state, &req, &self.modules[from].scope);
        let weak_undef =
            reference.is_some_and(|r| r.binding() == SymbolBinding::Weak && r.is_undefined());
        let (to, to_sym, how) = match found {
            Some((Found { module, sym }, protected)) => (
                Some(module),
                Some(sym),
                if protected { BindKind::Protected } else { kind },
            ),
            None if weak_undef => (None, None, BindKind::WeakUndefined),
            None => (None, None, kind),
        };
        let b = Binding {
            from,
            from_sym: reference.map(|r| r.index),
            symbol: String::from_utf8_lossy(name).into_owned(),
            version: version.map(|v| v.name.clone()),
            to,
            to_sym,
            how,
        };
        out.push(b);
    }

    /// Looks `name` up as `dlsym(RTLD_DEFAULT, name)` from the executable would.
    pub fn dlsym_default(&self, name: &str) -> Option<Found> {
        let mut state = LookupState::default();
        let req = Request {
            name: name.as_bytes(),
            from: 0,
            reference: None,
            version: None,
            type_class: 0,
            flags: lookup::RETURN_NEWEST,
        };
        lookup::lookup(self, &mut state, &req, &self.modules[0].scope).map(|(f, _)| f)
    }
}
