//! The in-process ground truth that the static analysis predicts: who registered this
//! process's rseq areas and why, glibc's exported variables, the auxiliary vector, the
//! calling thread's area, and which loaded modules define the legacy `__rseq_abi` and which
//! definition the loader resolves. Where the loader model ([`crate::resolve`],
//! [`crate::bindings`]) predicts what glibc's loader will do with a program, this module asks
//! the running process what it did.
//!
//! [`diagnose`] gathers a [`Diagnosis`] value; rendering is separate: `Display` gives the
//! human form, [`Diagnosis::to_json`] the machine-readable one.
//!
//! Loaded modules come from `dl_iterate_phdr(3)`; each module's symbol tables are read
//! from its file through the crate's ELF reader (the executable through `/proc/self/exe`), and a
//! `__rseq_abi` definition's address in the calling thread is the module's TLS block
//! (`dlpi_tls_data`) plus the symbol's value. The loader's choice is
//! `dlsym(RTLD_DEFAULT, "__rseq_abi")`. The registration facts come from `rseq_abi`'s
//! `thread`, `glibc`, `auxv`, `cpu` and `membarrier` modules.
//!
//! # Safety
//!
//! Uses `unsafe` to call `dl_iterate_phdr` and `dlsym` and to read the loader's
//! `dl_phdr_info` records during the callback.
#![allow(unsafe_code)]

use core::ffi::{c_int, c_void, CStr};
use std::fmt;

use std::path::Path;

use rseq_abi::thread::{self, Reason, Registrar};
use rseq_abi::Errno;
use serde::{Serialize, Serializer};

use crate::elf::{ElfFile, SymbolBinding, Visibility};
use crate::error::Error;

/// The legacy shared TLS symbol.
pub const RSEQ_ABI_SYMBOL: &str = "__rseq_abi";

/// Everything [`diagnose`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    /// Who registers rseq areas in this process, and why.
    pub registrar: RegistrarReport,
    /// The C library (`gnu_get_libc_version()`), when it is glibc.
    pub glibc_version: Option<String>,
    /// glibc's `__rseq_offset`, `__rseq_size`, `__rseq_flags`, when exported.
    pub glibc_rseq: Option<GlibcReport>,
    /// `getauxval(AT_RSEQ_FEATURE_SIZE)`.
    pub auxv_rseq_feature_size: Option<u32>,
    /// `getauxval(AT_RSEQ_ALIGN)`.
    pub auxv_rseq_align: Option<u32>,
    /// Bytes of the area the kernel fills: `min(registered length, feature size)`.
    pub feature_size: u32,
    /// `area_offset()`: offset of every thread's area from its thread pointer.
    pub area_offset: isize,
    /// The calling thread's area.
    pub thread: ThreadReport,
    /// Possible CPUs (from the kernel's possible-CPU mask).
    pub possible_cpus: usize,
    /// Whether the kernel offers the membarrier rseq fence.
    pub membarrier_rseq_fence: bool,
    /// The assembler name of this crate's own area.
    pub own_area_symbol: &'static str,
    /// The legacy `__rseq_abi` symbol across the loaded modules.
    pub rseq_abi: RseqAbiReport,
}

/// Who registers, in serialisable form.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrarReport {
    /// `glibc`, `crate`, `foreign` or `nobody`.
    pub kind: &'static str,
    /// Why (the errno or condition), for `foreign` and `nobody`.
    pub reason: Option<String>,
    /// The errno behind the reason, when there is one (`EPERM`, `ENOSYS`, ...).
    pub errno: Option<String>,
}

/// glibc's exported rseq variables.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GlibcReport {
    /// `__rseq_offset`.
    pub rseq_offset: isize,
    /// `__rseq_size`.
    pub rseq_size: u32,
    /// `__rseq_flags`.
    pub rseq_flags: u32,
}

/// The calling thread's area.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadReport {
    /// Address of the area (thread pointer + `area_offset()`).
    pub area: usize,
    /// Address of this crate's own area in this thread.
    pub own_area: usize,
    /// `prepare_current_thread()`: `null` when the area is live, else the reason.
    pub unavailable: Option<String>,
    /// `cpu_id` read as `i32`.
    pub cpu_id: i32,
    /// `cpu_id_start`.
    pub cpu_id_start: u32,
    /// `node_id`, when filled.
    pub node_id: Option<u32>,
    /// `mm_cid`, when filled.
    pub mm_cid: Option<u32>,
}

/// The legacy `__rseq_abi` symbol across the loaded modules.
#[derive(Debug, Clone, Serialize)]
pub struct RseqAbiReport {
    /// Every loaded module that defines `__rseq_abi`, in the loader's order.
    pub definitions: Vec<RseqAbiDefinition>,
    /// `dlsym(RTLD_DEFAULT, "__rseq_abi")` in the calling thread: the definition the
    /// loader resolves, or `null` when no module exports one.
    pub resolved_address: Option<usize>,
    /// The module whose definition that is.
    pub resolved_module: Option<String>,
    /// Modules whose dynamic symbols could not be read, with the reason.
    pub unreadable_modules: Vec<UnreadableModule>,
}

/// One module's definition of `__rseq_abi`.
#[derive(Debug, Clone, Serialize)]
pub struct RseqAbiDefinition {
    /// The module's path.
    pub module: String,
    /// `GLOBAL` or `WEAK` (displayed and serialised upper-case, as `readelf` prints it).
    #[serde(serialize_with = "upper_case")]
    pub binding: SymbolBinding,
    /// `DEFAULT`, `PROTECTED`, `HIDDEN` or `INTERNAL` (upper-case, as `readelf` prints it).
    #[serde(serialize_with = "upper_case")]
    pub visibility: Visibility,
    /// `st_size`.
    pub size: u64,
    /// Address of this module's instance in the calling thread, when its TLS block exists.
    pub address: Option<usize>,
    /// This instance is the area the process uses (`thread::area()`).
    pub is_the_area: bool,
    /// The definition is in the module's dynamic symbol table, so other modules can bind
    /// to it; `false` for a definition found only in the static `.symtab` (a `bin` that
    /// did not export it, a `cdylib` whose version script made it local).
    pub exported: bool,
}

/// Serialises a symbol attribute in its upper-case (`readelf`) spelling.
fn upper_case<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{value:#}"))
}

/// A module whose dynamic symbols could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct UnreadableModule {
    /// The module's path (or name).
    pub module: String,
    /// What went wrong.
    pub error: String,
}

/// Gathers the diagnosis. In own-registration mode this registers the calling thread (to
/// learn the verdict); it prints nothing and never aborts.
pub fn diagnose() -> Diagnosis {
    let registrar = registrar_report(thread::registrar());
    let unavailable = thread::prepare_current_thread()
        .err()
        .map(|u| u.to_string());
    let area = thread::area() as usize;
    let glibc_rseq = rseq_abi::glibc::rseq_symbols().map(|g| GlibcReport {
        rseq_offset: g.offset,
        rseq_size: g.size,
        rseq_flags: g.flags,
    });
    let fence = rseq_abi::membarrier::supported_commands()
        .map(|m| m.contains(rseq_abi::sys::MembarrierQuery::PRIVATE_EXPEDITED_RSEQ))
        .unwrap_or(false);
    Diagnosis {
        registrar,
        glibc_version: rseq_abi::glibc::libc_version().map(str::to_owned),
        glibc_rseq,
        auxv_rseq_feature_size: rseq_abi::auxv::rseq_feature_size(),
        auxv_rseq_align: rseq_abi::auxv::rseq_align(),
        feature_size: thread::feature_size(),
        area_offset: thread::area_offset(),
        thread: ThreadReport {
            area,
            own_area: thread::own_area() as usize,
            unavailable,
            cpu_id: rseq_abi::cpu::cpu_id(),
            cpu_id_start: rseq_abi::cpu::cpu_id_start(),
            node_id: rseq_abi::cpu::node_id(),
            mm_cid: rseq_abi::cpu::mm_cid(),
        },
        possible_cpus: rseq_abi::cpu::possible_cpus(),
        membarrier_rseq_fence: fence,
        own_area_symbol: thread::OWN_AREA_SYMBOL,
        rseq_abi: rseq_abi_report(area),
    }
}

fn errno_name(e: Errno) -> String {
    format!("{e:?}")
}

fn registrar_report(r: Registrar) -> RegistrarReport {
    let (kind, reason, errno) = match r {
        Registrar::Glibc(_) => ("glibc", None, None),
        Registrar::Crate => ("crate", None, None),
        Registrar::Foreign(e) => ("foreign", Some(Reason::Foreign(e)), Some(e)),
        Registrar::Nobody(reason) => {
            let errno = match reason {
                Reason::Refused(e) | Reason::Foreign(e) | Reason::GlibcFailed(Some(e)) => Some(e),
                _ => None,
            };
            ("nobody", Some(reason), errno)
        }
        _ => ("unknown", None, None),
    };
    RegistrarReport {
        kind,
        reason: reason.map(|r| r.to_string()),
        errno: errno.map(errno_name),
    }
}

/// A loaded module as `dl_iterate_phdr` reports it.
struct LoadedModule {
    name: String,
    tls_data: usize,
}

unsafe extern "C" fn collect(
    info: *mut libc::dl_phdr_info,
    _size: usize,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `data` is the `Vec<LoadedModule>` passed to dl_iterate_phdr below, which
    // calls back synchronously on the same thread; `info` is valid during the callback.
    let (modules, info) = unsafe { (&mut *(data as *mut Vec<LoadedModule>), &*info) };
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: the loader's module name is a NUL-terminated string alive during the call.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    modules.push(LoadedModule {
        name,
        tls_data: info.dlpi_tls_data as usize,
    });
    0
}

fn loaded_modules() -> Vec<LoadedModule> {
    let mut modules: Vec<LoadedModule> = Vec::new();
    // SAFETY: `collect` matches the callback type and only pushes to the vector passed as
    // `data`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(
            Some(collect),
            &mut modules as *mut Vec<LoadedModule> as *mut c_void,
        )
    };
    modules
}

/// The binding the report names: `WEAK` for a weak definition, `GLOBAL` for any other.
fn report_binding(binding: SymbolBinding) -> SymbolBinding {
    match binding {
        SymbolBinding::Weak => SymbolBinding::Weak,
        _ => SymbolBinding::Global,
    }
}

/// Why a module's file could not be read: the operating system's error alone for I/O
/// failures, the analyser's message otherwise.
fn unreadable_reason(e: Error) -> String {
    match e {
        Error::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn rseq_abi_report(area: usize) -> RseqAbiReport {
    // SAFETY: the name is NUL-terminated; for a TLS symbol dlsym returns the calling
    // thread's instance, or NULL when no module exports the symbol.
    let resolved = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_abi".as_ptr()) } as usize;
    let resolved_address = (resolved != 0).then_some(resolved);
    let mut definitions = Vec::new();
    let mut unreadable_modules = Vec::new();
    for (index, module) in loaded_modules().into_iter().enumerate() {
        let (label, path) = if index == 0 && module.name.is_empty() {
            let exe = std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            (exe, "/proc/self/exe".to_owned())
        } else {
            (module.name.clone(), module.name.clone())
        };
        if path.is_empty() || !path.starts_with('/') {
            continue; // the vDSO and other modules without a file
        }
        let file = match ElfFile::open(Path::new(&path)) {
            Ok(f) => f,
            Err(e) => {
                unreadable_modules.push(UnreadableModule {
                    module: label,
                    error: unreadable_reason(e),
                });
                continue;
            }
        };
        let name = RSEQ_ABI_SYMBOL.as_bytes();
        let mut found: Vec<_> = file
            .dynamic_symbols()
            .filter(|s| s.name == name && !s.is_undefined())
            .map(|s| (s, true))
            .collect();
        if found.is_empty() {
            found = file
                .static_symbols(name)
                .filter(|s| !s.is_undefined())
                .map(|s| (s, false))
                .collect();
        }
        for (sym, exported) in found {
            let address = (module.tls_data != 0)
                .then(|| usize::try_from(sym.value).ok())
                .flatten()
                .and_then(|off| module.tls_data.checked_add(off));
            definitions.push(RseqAbiDefinition {
                module: label.clone(),
                binding: report_binding(sym.binding()),
                visibility: sym.visibility(),
                size: sym.size,
                address,
                is_the_area: address == Some(area),
                exported,
            });
        }
    }
    let resolved_module = resolved_address.and_then(|a| {
        definitions
            .iter()
            .find(|d| d.address == Some(a))
            .map(|d| d.module.clone())
    });
    RseqAbiReport {
        definitions,
        resolved_address,
        resolved_module,
        unreadable_modules,
    }
}

impl Diagnosis {
    /// The diagnosis as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.registrar;
        write!(f, "registrar:            {}", r.kind)?;
        if let Some(reason) = &r.reason {
            write!(f, " ({reason})")?;
        }
        writeln!(f)?;
        writeln!(f, "glibc:                {}", opt(&self.glibc_version))?;
        match &self.glibc_rseq {
            Some(g) => writeln!(
                f,
                "__rseq_offset/size/flags: {} / {} / {}",
                g.rseq_offset, g.rseq_size, g.rseq_flags
            )?,
            None => writeln!(f, "__rseq_offset/size/flags: not exported")?,
        }
        writeln!(
            f,
            "AT_RSEQ_FEATURE_SIZE: {}   AT_RSEQ_ALIGN: {}   usable feature size: {}",
            opt(&self.auxv_rseq_feature_size),
            opt(&self.auxv_rseq_align),
            self.feature_size
        )?;
        writeln!(f, "area_offset:          {}", self.area_offset)?;
        let t = &self.thread;
        writeln!(
            f,
            "this thread:          area {:#x} (own area {:#x}), {}",
            t.area,
            t.own_area,
            t.unavailable.as_deref().unwrap_or("live")
        )?;
        writeln!(
            f,
            "  cpu_id {} cpu_id_start {} node_id {} mm_cid {}",
            t.cpu_id,
            t.cpu_id_start,
            opt(&t.node_id),
            opt(&t.mm_cid)
        )?;
        writeln!(
            f,
            "possible CPUs:        {}   membarrier rseq fence: {}",
            self.possible_cpus,
            if self.membarrier_rseq_fence {
                "yes"
            } else {
                "no"
            }
        )?;
        writeln!(f, "own area symbol:      {}", self.own_area_symbol)?;
        let a = &self.rseq_abi;
        if a.definitions.is_empty() {
            writeln!(f, "__rseq_abi:           defined by no loaded module")?;
        }
        for d in &a.definitions {
            writeln!(
                f,
                "__rseq_abi defined:   {} ({:#} {:#}{}, {} bytes) at {}{}",
                d.module,
                d.binding,
                d.visibility,
                if d.exported { "" } else { ", not exported" },
                d.size,
                d.address
                    .map_or_else(|| "-".to_owned(), |a| format!("{a:#x}")),
                if d.is_the_area {
                    "  <- the registered area"
                } else {
                    ""
                }
            )?;
        }
        match (&a.resolved_address, &a.resolved_module) {
            (Some(addr), Some(m)) => writeln!(f, "__rseq_abi resolves:  {addr:#x} in {m}")?,
            (Some(addr), None) => writeln!(f, "__rseq_abi resolves:  {addr:#x}")?,
            (None, _) => writeln!(f, "__rseq_abi resolves:  nowhere")?,
        }
        for m in &a.unreadable_modules {
            writeln!(f, "unreadable module:    {}: {}", m.module, m.error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_print_readelf_spellings() {
        let d = RseqAbiDefinition {
            module: "/lib/x.so".into(),
            binding: report_binding(SymbolBinding::Weak),
            visibility: Visibility::Protected,
            size: 32,
            address: None,
            is_the_area: false,
            exported: true,
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["binding"], "WEAK");
        assert_eq!(v["visibility"], "PROTECTED");
        assert_eq!(
            format!("{:#} {:#}", d.binding, d.visibility),
            "WEAK PROTECTED"
        );
        assert_eq!(report_binding(SymbolBinding::Unique), SymbolBinding::Global);
    }
}
