//! The diagnostics catalog: every finding any analysis can report (the loader model, the
//! static-link prediction and the critical-section verifier), each with a stable
//! kebab-case name, a severity, a one-line summary, a fix hint and a long explanation
//! (`rseq-link-check explain CODE`).
//!
//! The whole catalog is one [`catalog!`] declaration at the end of this file. This module is
//! a leaf: it imports nothing from the analyses; they import their codes from here
//! ([`Code`] for the loader and link findings, [`VerifyCode`] for the verifier's rules,
//! re-exported as `verify::Code`).

use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing breaks.
    Info,
    /// Likely to break under some conditions.
    Warning,
    /// Breaks, or the program does not start.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Which analysis reports a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Catalog {
    /// The dynamic loader model (`resolve`, `check`, `graph`).
    Loader,
    /// The static link prediction (`predict`, the build-script API, the linker wrapper).
    StaticLink,
    /// The critical-section verifier (`verify`, `asm`).
    CriticalSection,
}

impl Catalog {
    /// The stable kebab-case name (`loader`, `static-link`, `critical-section`).
    pub fn as_str(self) -> &'static str {
        match self {
            Catalog::Loader => "loader",
            Catalog::StaticLink => "static-link",
            Catalog::CriticalSection => "critical-section",
        }
    }
}

/// Declares the catalog: one row per code, grouped by the analysis that reports it.
/// The loader and static-link rows become variants of [`Code`]; the critical-section rows
/// become [`VerifyCode`], held by [`Code::CriticalSection`].
macro_rules! catalog {
    (
        Loader { $( $(#[doc = $ldoc:literal])* $lvar:ident = $lname:literal, $lsev:ident,
            summary: $lsum:literal, hint: $lhint:literal, explain: $lexp:literal; )* }
        StaticLink { $( $(#[doc = $sdoc:literal])* $svar:ident = $sname:literal, $ssev:ident,
            summary: $ssum:literal, hint: $shint:literal, explain: $sexp:literal; )* }
        CriticalSection { $( $(#[doc = $vdoc:literal])* $vvar:ident = $vname:literal, $vsev:ident,
            summary: $vsum:literal, hint: $vhint:literal, explain: $vexp:literal; )* }
    ) => {
        /// The catalog of diagnostic codes. The kebab-case names are stable.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[doc = $ldoc])* $lvar, )*
            $( $(#[doc = $sdoc])* $svar, )*
            /// A rule of critical-section verification; [`VerifyCode`] is that part of
            /// the catalog (`rseq-*` codes).
            CriticalSection(VerifyCode),
        }

        /// The loader and static-link codes, in catalog order (the critical-section codes
        /// are [`VerifyCode::ALL`]; [`Code::all`] yields both).
        pub const CATALOG: &[Code] = &[$(Code::$lvar,)* $(Code::$svar,)*];

        impl Code {
            /// The stable kebab-case name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$lvar => $lname,)*
                    $(Code::$svar => $sname,)*
                    Code::CriticalSection(c) => c.as_str(),
                }
            }

            /// The analysis that reports this code.
            pub fn catalog(self) -> Catalog {
                match self {
                    $(Code::$lvar => Catalog::Loader,)*
                    $(Code::$svar => Catalog::StaticLink,)*
                    Code::CriticalSection(_) => Catalog::CriticalSection,
                }
            }

            /// The severity findings of this code carry.
            pub fn severity(self) -> Severity {
                match self {
                    $(Code::$lvar => Severity::$lsev,)*
                    $(Code::$svar => Severity::$ssev,)*
                    Code::CriticalSection(c) => c.severity(),
                }
            }

            /// One line saying what the code means.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$lvar => $lsum,)*
                    $(Code::$svar => $ssum,)*
                    Code::CriticalSection(c) => c.summary(),
                }
            }

            /// The default fix hint.
            pub fn hint(self) -> &'static str {
                match self {
                    $(Code::$lvar => $lhint,)*
                    $(Code::$svar => $shint,)*
                    Code::CriticalSection(c) => c.hint(),
                }
            }

            /// The long explanation shown by `explain`.
            pub fn explain(self) -> &'static str {
                match self {
                    $(Code::$lvar => $lexp,)*
                    $(Code::$svar => $sexp,)*
                    Code::CriticalSection(c) => c.explain(),
                }
            }
        }

        /// The stable code of each rule the critical-section verifier checks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum VerifyCode {
            $( $(#[doc = $vdoc])* $vvar, )*
        }

        impl VerifyCode {
            /// Every code, in catalog order.
            pub const ALL: &'static [VerifyCode] = &[$(VerifyCode::$vvar,)*];

            /// The stable kebab-case code.
            pub fn as_str(self) -> &'static str {
                match self { $(VerifyCode::$vvar => $vname,)* }
            }

            /// The severity of findings with this code.
            pub fn severity(self) -> Severity {
                match self { $(VerifyCode::$vvar => Severity::$vsev,)* }
            }

            /// One line saying what a finding of this code means.
            pub fn summary(self) -> &'static str {
                match self { $(VerifyCode::$vvar => $vsum,)* }
            }

            /// How to fix a finding of this code.
            pub fn hint(self) -> &'static str {
                match self { $(VerifyCode::$vvar => $vhint,)* }
            }

            /// What the rule checks, why it matters, and how to fix a finding.
            pub fn explain(self) -> &'static str {
                match self { $(VerifyCode::$vvar => $vexp,)* }
            }

            /// The code with this name, if there is one.
            pub fn from_name(name: &str) -> Option<VerifyCode> {
                VerifyCode::ALL.iter().copied().find(|c| c.as_str() == name)
            }
        }
    };
}

impl Code {
    /// Every code of every catalog, in catalog order (loader, static link, critical section).
    pub fn all() -> impl Iterator<Item = Code> {
        CATALOG
            .iter()
            .copied()
            .chain(VerifyCode::ALL.iter().map(|&c| Code::CriticalSection(c)))
    }

    /// Looks a code up by its kebab-case name.
    pub fn from_name(name: &str) -> Option<Code> {
        Code::all().find(|c| c.as_str() == name)
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for VerifyCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for VerifyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// The stable code.
    pub code: Code,
    /// What was found, naming the modules and sizes involved.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Diagnostic {
    /// A finding of `code` with its default severity and hint.
    pub fn new(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            hint: code.hint().to_string(),
        }
    }

    /// True for error severity.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::all() {
            assert!(seen.insert(c.as_str()), "duplicate {c}");
            assert_eq!(Code::from_name(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert!(!c.summary().is_empty() && !c.explain().is_empty() && !c.hint().is_empty());
            assert!(c
                .as_str()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'));
            assert_eq!(
                c.catalog() == Catalog::CriticalSection,
                c.as_str().starts_with("rseq-")
            );
        }
        assert_eq!(Code::from_name("no-such-code"), None);
    }
}

catalog! {
    Loader {
        /// The C library registers rseq itself and a module also registers its own `__rseq_abi`.
        GlibcOwnsRegistration = "glibc-owns-registration", Error,
            summary: "the C library registers rseq and a module registers its own __rseq_abi too",
            hint: "use the C library's area through __rseq_offset/__rseq_size instead of registering, or run with GLIBC_TUNABLES=glibc.pthread.rseq=0",
            explain: "\
Since glibc 2.35 the C library registers one rseq area per thread itself, inside its
thread control block, and publishes where it is through __rseq_offset, __rseq_size and
__rseq_flags (exported by the dynamic loader, version GLIBC_2.35). The kernel accepts only one
registration per thread: a module that still defines its own TLS __rseq_abi and calls the
rseq system call on it gets EINVAL (another area is registered), and then either fails or
silently runs without rseq; a module that only reads its own __rseq_abi sees an area the
kernel never updates
(tcmalloc's long-standing issue is the best-known case). The fix is to read the area glibc
registered (thread pointer + __rseq_offset) or to disable glibc's registration with
GLIBC_TUNABLES=glibc.pthread.rseq=0.

What the file shows decides the severity. An error needs evidence that the module registers
its area: its code loads the rseq system call number (334 on x86_64, 293 on aarch64) shortly
before a system call or a call of syscall(), or it calls a known registration function
(librseq's rseq_register_current_thread). Without such evidence the finding is a warning
that states the assumption (the module is taken not to register its area).

A module that defines __rseq_abi but also references __rseq_offset or __rseq_size (or holds
the name __rseq_offset for dlsym) is taken to use the C library's area, as librseq does since
glibc 2.35: it is reported as a warning (its own area stays unregistered and unused).
rseq-abi's `legacy-rseq-abi` area, which rseq-abi registers only when the C library does not,
gives no finding: rseq-abi keeps the marker __rseq_abi_rs_defers_to_glibc beside it. Another module that
reads such a module's __rseq_abi directly, without finding glibc's area itself, reads an area
nobody registers: that is an error naming the reader.";
        /// A definition of `__rseq_abi` is smaller than the 32 bytes registration needs.
        TooSmallToRegister = "too-small-to-register", Error,
            summary: "a __rseq_abi is smaller than the 32 bytes the kernel registers",
            hint: "define __rseq_abi with the size of struct rseq (at least 32 bytes, 32-byte aligned)",
            explain: "\
The kernel's rseq system call takes a length of at least 32 bytes (the original struct rseq)
and writes cpu_id_start, cpu_id, rseq_cs and flags into it. A __rseq_abi smaller than that
cannot be registered (EINVAL), and any code built for the real struct that ends up using it
reads and writes past its end, into neighbouring TLS. The finding is reported wherever such a
definition ends up: in the static link's output or in any module of the process.";
        /// Definitions of `__rseq_abi` differ in size and the winner is smaller than what a
        /// losing module was built for.
        WinnerTooSmall = "winner-too-small", Error,
            summary: "the winning __rseq_abi is smaller than what another module was built for",
            hint: "rebuild the smaller definition against the current struct rseq, or drop it so every module binds to the largest one",
            explain: "\
Several modules define __rseq_abi with different st_size values. The dynamic loader binds all
interposable references to one definition (the first in lookup scope). A module built for a
larger struct rseq (for example with mm_cid at offset 24) that ends up using a smaller winner
reads and writes past the end of the object the kernel knows about, into neighbouring TLS.";
        /// Definitions of `__rseq_abi` differ in size; the winner is at least as large as all.
        SizeMismatch = "size-mismatch", Warning,
            summary: "definitions of __rseq_abi differ in size",
            hint: "make all modules share one definition of the current size",
            explain: "\
Several modules define __rseq_abi with different sizes. The winner is at least as large as
every other definition, so nothing is out of bounds, but the modules were built against
different views of struct rseq; features beyond a module's size are invisible to it.";
        /// Modules bind to different definitions: the process holds several areas.
        SplitInstance = "split-instance", Error,
            summary: "modules use different __rseq_abi instances",
            hint: "export one default-visibility TLS __rseq_abi from a single module and make the others reference it (no protected/hidden copies, no -Bsymbolic, no version-script local)",
            explain: "\
A process has exactly one registered rseq area per thread. When modules bind __rseq_abi to
different definitions (because one keeps a private copy: protected or hidden visibility,
-Bsymbolic / DT_SYMBOLIC, a version-script local symbol, an executable definition that is not
exported in .dynsym, a Rust cdylib, or RTLD_DEEPBIND / RTLD_LOCAL scopes), the kernel updates
only the registered one. Code using the other sees cpu_id stay at its initial value and its
critical sections are never aborted, so per-CPU data is silently corrupted. The finding
lists which module binds to which definition, and why.";
        /// A definition of `__rseq_abi` that is not thread-local.
        NonTlsDefinition = "non-tls-definition", Error,
            summary: "__rseq_abi is defined as a non-TLS symbol",
            hint: "declare __rseq_abi as __thread / #[thread_local] so each thread has its own area",
            explain: "\
__rseq_abi must be thread-local: the kernel registers one area per thread. A definition that
is a plain global object (STT_OBJECT) makes all threads share one area; the second thread's
registration fails or, worse, the kernel overwrites fields another thread is using.";
        /// A definition of `__rseq_abi` aligned below what registration needs.
        UnderAligned = "under-aligned", Error,
            summary: "__rseq_abi is aligned below the 32 bytes registration needs",
            hint: "declare the area with __attribute__((aligned(32))) (struct rseq's alignment)",
            explain: "\
struct rseq is declared with 32-byte alignment and the rseq system call rejects an area
that is not aligned to it (EINVAL). The alignment of a TLS definition is the alignment of the
TLS segment combined with the symbol's offset inside it; when it is below 32 the
registration fails.";
        /// A definition of `__rseq_abi` shorter than the fields the kernel fills, or, when
        /// longer than 32 bytes, aligned below what the kernel asks of such a registration.
        KernelFeatureSize = "kernel-feature-size", Warning,
            summary: "__rseq_abi is shorter than the rseq fields the kernel fills, or aligned below what a longer registration needs",
            hint: "size the area by getauxval(AT_RSEQ_FEATURE_SIZE) and align it to getauxval(AT_RSEQ_ALIGN) (or use the C library's area, __rseq_offset); a legacy 32-byte area keeps working without the newer fields",
            explain: "\
The kernel publishes how many bytes of struct rseq it fills (AT_RSEQ_FEATURE_SIZE: 20 before
Linux 6.3, 28 from 6.3, 33 from 7.0) and the alignment it requires of an area registered with
more than the original 32 bytes (AT_RSEQ_ALIGN: 32, then 64 from 7.0). A definition of
__rseq_abi is registered with its own size at most, so the kernel never fills the fields past
it: a legacy 32-byte definition keeps cpu_id, node_id, mm_cid and slice_ctrl but loses
everything after byte 32 on Linux 7.0 (a warning). A definition longer than 32 bytes but
aligned below AT_RSEQ_ALIGN cannot be registered with its length at all (EINVAL; an error).
The check judges against the running machine's auxiliary vector unless --kernel-feature-size
and --kernel-align name another kernel.";
        /// An initial-exec TLS module that would be loaded by `dlopen`.
        StaticTlsInDlopen = "static-tls-in-dlopen", Warning,
            summary: "an initial-exec TLS module would be loaded by dlopen",
            hint: "build the module with -ftls-model=global-dynamic, or link it into the executable instead of loading it with dlopen",
            explain: "\
A module whose code uses the initial-exec TLS model (DF_STATIC_TLS; the usual model for
__rseq_abi accesses) needs its TLS block inside the static TLS area allocated at program
start. When such a module is loaded later with dlopen, glibc can place it only in the small
surplus of that area (tunable glibc.rtld.optional_static_tls); once it is exhausted, dlopen
fails with \"cannot allocate memory in static TLS block\".";
        /// An unversioned definition of `__rseq_offset`/`__rseq_size`/`__rseq_flags` that
        /// captures the C library's own references.
        CapturesGlibcRseqSymbol = "captures-glibc-rseq-symbol", Error,
            summary: "an unversioned __rseq_offset/__rseq_size/__rseq_flags captures the C library's references",
            hint: "remove the definition, or give it a private name; the C library exports these symbols from ld.so",
            explain: "\
The C library's own code references __rseq_offset, __rseq_size and __rseq_flags with version
GLIBC_2.35 and expects ld.so's definitions. glibc's lookup accepts an unversioned definition
for a versioned reference, so a module earlier in the lookup scope that defines one of these
names without a version captures the C library's references, and glibc's rseq code then
reads the wrong values.";
        /// A DT_NEEDED file is not found: the loader refuses to start the program.
        MissingDependency = "missing-dependency", Error,
            summary: "a needed library is not found; the program does not start",
            hint: "install the library, or add its directory with --library-path / LD_LIBRARY_PATH, RUNPATH or ldconfig",
            explain: "\
A DT_NEEDED entry could not be found along the loader's search path (DT_RPATH of the loading
chain, LD_LIBRARY_PATH, DT_RUNPATH, /etc/ld.so.cache, the default directories). The real
loader stops with \"cannot open shared object file\" before the program runs.";
        /// A required symbol version is not defined: the loader refuses to start the program.
        MissingVersion = "missing-version", Error,
            summary: "a required symbol version is not defined; the program does not start",
            hint: "run against a library that defines the version (usually a newer one), or rebuild against the one installed",
            explain: "\
A module requires a symbol version (SHT_GNU_verneed) that the library it names does not
define. The real loader stops with \"version `X' not found (required by Y)\" before the
program runs.";
        /// An `LD_PRELOAD` (or preload file) entry is not found: the loader ignores it.
        PreloadNotFound = "preload-not-found", Warning,
            summary: "a preloaded object is not found; the loader ignores it and starts without it",
            hint: "fix the path in LD_PRELOAD or /etc/ld.so.preload, or install the library",
            explain: "\
An entry of LD_PRELOAD (or of /etc/ld.so.preload) names an object the loader cannot open. Unlike
a missing DT_NEEDED library this does not stop the program: ld.so prints \"ERROR: ld.so: object
'...' from LD_PRELOAD cannot be preloaded (...): ignored.\" and starts without it, so whatever the
preload was meant to interpose (an __rseq_abi definition, an allocator) is silently absent.";
        /// A weak undefined thread-local reference nothing defines.
        WeakUndefinedTls = "weak-undefined-tls", Error,
            summary: "a weak thread-local reference is not defined anywhere: its address is meaningless",
            hint: "link or preload the module that defines the symbol, or test for it through a non-TLS symbol (such as __rseq_offset) instead of the TLS address",
            explain: "\
A module references a thread-local symbol weakly (for example `extern __thread struct rseq
__rseq_abi __attribute__((weak))`) and no loaded module defines it. The dynamic loader resolves
an undefined weak reference to 0 and does not stop, but for TLS a 0 is not an address: the
module's TLS relocations (DTPMOD/DTPOFF or TPOFF) compute the variable's address from module ID
0 and offset 0, so `&__rseq_abi` is not NULL and points at the thread pointer or at unrelated
TLS. Code that tests the address for NULL to detect a missing definition takes the wrong branch
and reads or writes memory that is not an rseq area.";
    }
    StaticLink {
        /// The static linker refuses the link over the symbol (two strong definitions, TLS
        /// meeting non-TLS, an undefined reference the output needs).
        LinkRejected = "link-rejected", Error,
            summary: "the static linker refuses the link",
            hint: "keep one strong definition (make the others weak or remove them) and declare every definition and reference of a thread-local symbol as thread-local",
            explain: "\
The static linker stops with an error: two non-weak definitions of one symbol (GNU ld:
\"multiple definition of\", lld: \"duplicate symbol\"), or a thread-local definition meeting a
non-thread-local definition or reference (GNU ld: \"TLS definition in A mismatches non-TLS
definition in B\", lld: \"TLS attribute mismatch\"). GNU ld checks every pair of definitions
and plain references; lld checks only when a definition replaces another. The prediction
names both inputs.";
        /// The link fails for a reason unrelated to the symbol: an input is not found.
        LinkInputMissing = "link-input-missing", Error,
            summary: "the link fails before symbols matter: a library, an input file or the program is not found",
            hint: "make the named library or file exist where the link line looks for it",
            explain: "\
The linker stops because an input of the line does not exist: a `-lNAME` library found in no
`-L` directory nor the system's, a file named on the line, or a word that is not an input at
all (a program name or an environment assignment left at the start of a line copied from
`--print=link-args`). Nothing is known yet about __rseq_abi: the prediction covers the inputs
that exist. The finding's hint fits the cause: install or point `-L` at the library, keep
rustc's temporary objects with `-C save-temps`, or pass the link line without its program
name and environment.";
        /// Definitions of different sizes meet in one static link.
        LinkSizeMismatch = "link-size-mismatch", Warning,
            summary: "definitions of __rseq_abi with different sizes meet in one link",
            hint: "link one definition of the current size (drop the C library's copy or the `legacy-rseq-abi` feature)",
            explain: "\
Two definitions of __rseq_abi with different st_size values meet in one static link. GNU ld
warns about size changes only for common and non-TLS data symbols; for weak or thread-local
definitions (Rust's opt-in 32-byte weak TLS definition, a C library's own copy) it silently
keeps the strong one (or the first weak one). Code compiled against the losing definition then
uses the winner's object: if the winner is smaller it reads and writes past its end.";
        /// A shared library's version script makes its `__rseq_abi` local: a private copy.
        VersionScriptLocal = "version-script-local", Error,
            summary: "a shared library's version script makes its __rseq_abi local",
            hint: "export __rseq_abi from the library (add it to the version script's global list) or stop defining it there and reference the executable's",
            explain: "\
A shared library is linked with a version script whose `local:` patterns (rustc writes
`local: *;` for every cdylib and lists only Rust-exported symbols under `global:`) cover
__rseq_abi. The definition stays in the library but leaves .dynsym, so the library's own code
keeps using a private copy the dynamic loader cannot interpose: the process ends up with two
areas, and only one of them is registered with the kernel.";
        /// `--gc-sections` drops the definition from the output.
        GcDropsDefinition = "gc-drops-definition", Warning,
            summary: "--gc-sections drops the definition from the output",
            hint: "reference the definition from live code, keep it with -u __rseq_abi / #[used], or export it (--export-dynamic / --dynamic-list)",
            explain: "\
With --gc-sections (rustc passes it for every binary) the linker discards input sections no
root reaches: exported symbols, the entry point, -u symbols, init/fini arrays, notes and
retained sections. A definition of __rseq_abi nothing references is discarded with its
section: the output neither defines nor exports it, and modules that expected to share it
bind elsewhere or stay unresolved.";
        /// GNU ld and lld would resolve the symbol differently.
        LinkersDisagree = "linkers-disagree", Warning,
            summary: "GNU ld and lld resolve the symbol differently",
            hint: "make the link order-independent: name the providing object or archive before its users, or wrap archives in --start-group/--end-group",
            explain: "\
GNU ld visits each archive once, at its position on the command line, and takes only members
that satisfy references undefined at that moment; lld keeps every archive symbol available for
the whole link. When a definition lives in an archive that precedes its users (or a weak
definition competes with an archive member), the two linkers produce different outputs from
the same command line. rustc links with lld by default on x86_64 Linux; a C toolchain uses GNU
ld.";
    }
    CriticalSection {
        /// The descriptor is not 32-byte aligned.
        CsMisaligned = "rseq-cs-misaligned", Error,
            summary: "the descriptor is not 32-byte aligned",
            hint: "put `.balign 32` before the descriptor in __rseq_cs",
            explain: "struct rseq_cs must be 32-byte aligned; the kernel rejects a misaligned descriptor and kills the thread with SIGSEGV. Put `.balign 32` before the descriptor in `__rseq_cs`.";
        /// The descriptor's version is not 0.
        CsBadVersion = "rseq-cs-bad-version", Error,
            summary: "the descriptor's version is not 0",
            hint: "set rseq_cs.version to 0",
            explain: "rseq_cs.version must be 0; the kernel rejects any other version and kills the thread with SIGSEGV.";
        /// The descriptor carries a deprecated RSEQ_CS_FLAG_NO_RESTART_ON_* flag.
        CsDeprecatedFlags = "rseq-cs-deprecated-flags", Error,
            summary: "the descriptor carries a deprecated RSEQ_CS_FLAG_NO_RESTART_ON_* flag",
            hint: "set rseq_cs.flags to 0",
            explain: "rseq_cs.flags carries RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT/SIGNAL/MIGRATE; kernels since 6.0 reject these and kill the thread with SIGSEGV. Set flags to 0.";
        /// The descriptor carries unknown flag bits.
        CsUnknownFlags = "rseq-cs-unknown-flags", Error,
            summary: "the descriptor carries undefined flag bits",
            hint: "set rseq_cs.flags to 0",
            explain: "rseq_cs.flags has bits the kernel does not define; it must be 0.";
        /// start_ip >= post_commit_ip (empty or wrapping section).
        CsEmpty = "rseq-cs-empty", Error,
            summary: "start_ip + post_commit_offset is not after start_ip",
            hint: "set post_commit_offset to the distance from the start to the end of the commit",
            explain: "post_commit_offset must be positive and start_ip + post_commit_offset must not wrap: the section [start_ip, post_commit_ip) is empty or reversed.";
        /// start_ip is not in an executable section.
        CsNotExecutable = "rseq-cs-not-executable", Error,
            summary: "start_ip is not in executable code",
            hint: "point start_ip at the section's first instruction",
            explain: "start_ip must point into executable code (a section with SHF_EXECINSTR).";
        /// The section runs past the end of the executable section holding start_ip.
        CsSpansSections = "rseq-cs-spans-sections", Error,
            summary: "the section runs past the end of the code section holding start_ip",
            hint: "make post_commit_offset end at the commit instruction",
            explain: "start_ip and post_commit_ip must lie in one executable section; the section runs past its end.";
        /// abort_ip is not in an executable section.
        AbortNotExecutable = "rseq-abort-not-executable", Error,
            summary: "abort_ip is not in executable code",
            hint: "point abort_ip at the abort handler's first instruction",
            explain: "abort_ip must point into executable code; the kernel would move the thread to a non-executable address.";
        /// abort_ip lies inside [start_ip, post_commit_ip).
        AbortInsideSection = "rseq-abort-inside-section", Error,
            summary: "abort_ip lies inside the section",
            hint: "place the abort handler (and its signature) outside [start_ip, post_commit_ip)",
            explain: "abort_ip must be outside [start_ip, post_commit_ip); the kernel rejects an abort handler inside the section and kills the thread with SIGSEGV.";
        /// The four bytes before abort_ip are not the signature.
        AbortSignatureMissing = "rseq-abort-signature-missing", Error,
            summary: "the 4 bytes before abort_ip are not the signature",
            hint: "emit the signature (x86: `ud1 0x53053053(%rip), %edi`; aarch64: `.inst 0xd428bc00`) immediately before the abort handler",
            explain: "The four bytes before abort_ip must equal the signature registered with rseq(2) (0x53053053 on x86, 0xd428bc00 on aarch64); otherwise the kernel kills the thread with SIGSEGV on abort.";
        /// On x86 the signature is not in the `ud1` form.
        AbortSignatureNotUd1 = "rseq-abort-signature-not-ud1", Warning,
            summary: "the x86 signature is not the immediate of a ud1 instruction",
            hint: "emit `.byte 0x0f, 0xb9, 0x3d` before `.long 0x53053053`",
            explain: "On x86 the signature should be the immediate of `ud1 0x53053053(%rip), %edi` (bytes 0f b9 3d before it), so that a stray jump into the signature traps instead of executing data.";
        /// A call inside the section.
        CallInSection = "rseq-call-in-section", Error,
            summary: "a call inside the section",
            hint: "inline the callee or move the call before the section",
            explain: "A call inside a critical section leaves it: the callee runs with rseq_cs set but outside [start_ip, post_commit_ip), so preemption there is not detected and the commit may act on stale data. Inline the callee or move the call out.";
        /// A system call or software interrupt inside the section.
        SyscallInSection = "rseq-syscall-in-section", Error,
            summary: "a system call or software interrupt inside the section",
            hint: "move the system call out of the section",
            explain: "A system call inside a critical section is forbidden (the kernel kills the thread with SIGSEGV when built with CONFIG_DEBUG_RSEQ, and the section can be aborted by the call itself).";
        /// A return inside the section.
        ReturnInSection = "rseq-return-in-section", Error,
            summary: "a return inside the section",
            hint: "leave through a declared exit point",
            explain: "A return inside a critical section leaves it without committing; leave through a declared exit point instead.";
        /// A push, pop or other stack-pointer change inside the section.
        StackOpInSection = "rseq-stack-op-in-section", Error,
            summary: "a push, pop or stack-pointer change inside the section",
            hint: "keep values in registers; adjust the stack before the section",
            explain: "Changing the stack pointer inside a critical section (push, pop, sp arithmetic) is not undone on abort: the abort handler would run with a different stack pointer.";
        /// A privileged or system instruction inside the section.
        PrivilegedInSection = "rseq-privileged-in-section", Error,
            summary: "a privileged, system or trapping instruction inside the section",
            hint: "remove it from the section",
            explain: "Privileged, system-register or trapping instructions do not belong in a critical section.";
        /// A branch to an address that is neither inside, abort_ip nor a declared exit.
        BranchOutOfSection = "rseq-branch-out-of-section", Error,
            summary: "a branch leaves the section to an undeclared address",
            hint: "declare the target in __rseq_exit_point_array, or branch to abort_ip",
            explain: "Every branch inside a critical section must go inside the section, to abort_ip (or to where the abort handler at abort_ip jumps, which is the same), or to an exit point declared in __rseq_exit_point_array. Declare the exit, or fix the target.";
        /// A branch whose target is in a register or memory.
        IndirectBranch = "rseq-indirect-branch", Error,
            summary: "an indirect branch inside the section",
            hint: "use direct branches to declared exits",
            explain: "An indirect branch inside a critical section cannot be checked to stay inside it or go to a declared exit.";
        /// The bytes do not decode as instructions.
        UndecodableInstruction = "rseq-undecodable-instruction", Error,
            summary: "bytes inside the section do not decode",
            hint: "check start_ip and post_commit_offset: data or a misplaced range is inside",
            explain: "Bytes inside the section do not decode as an instruction of the file's architecture.";
        /// post_commit_ip falls inside an instruction.
        CommitNotAtInstructionEnd = "rseq-commit-not-at-instruction-end", Error,
            summary: "post_commit_ip falls inside an instruction",
            hint: "set post_commit_offset to end exactly after the commit store",
            explain: "post_commit_ip must be the end of the commit instruction; it falls inside an instruction, so the commit's completion is not what the kernel sees as the end of the section.";
        /// The last instruction is not a store.
        CommitNotStore = "rseq-commit-not-store", Error,
            summary: "the last instruction is not the committing store",
            hint: "end the section with the single store that publishes the result",
            explain: "The last instruction of a critical section must be the single store that commits it; here it is not a store, so what follows post_commit_ip runs unprotected.";
        /// A store before the commit.
        SpeculativeStore = "rseq-speculative-store", Info,
            summary: "a store before the commit (listed for review)",
            hint: "make sure it only writes memory nobody reads before the commit",
            explain: "A store before the commit is not undone on abort: it must be speculative (only to memory nobody else reads before the commit). Listed for review.";
        /// A descriptor in __rseq_cs that __rseq_cs_ptr_array does not list.
        CsNotInPtrArray = "rseq-cs-not-in-ptr-array", Warning,
            summary: "a descriptor is not listed in __rseq_cs_ptr_array",
            hint: "add `.quad descriptor` to __rseq_cs_ptr_array",
            explain: "Every descriptor should be listed in __rseq_cs_ptr_array, which debuggers and checkpoint/restore tools read to find critical sections.";
        /// A pointer-array entry that does not point to a readable descriptor.
        PtrArrayDangling = "rseq-ptr-array-dangling", Error,
            summary: "a pointer-array entry points to no descriptor",
            hint: "remove the entry or point it at the descriptor",
            explain: "An entry of __rseq_cs_ptr_array does not point to a 32-byte descriptor in the file.";
        /// An exit point whose start_ip matches no descriptor.
        ExitUnknownSection = "rseq-exit-unknown-section", Error,
            summary: "an exit point names a start_ip that starts no section",
            hint: "use the section's start_ip as the first word of the pair",
            explain: "Each __rseq_exit_point_array pair (start_ip, exit_ip) must name the start_ip of a critical section.";
        /// An exit point inside its section.
        ExitInsideSection = "rseq-exit-inside-section", Error,
            summary: "a declared exit lies inside its section",
            hint: "declare only targets outside [start_ip, post_commit_ip)",
            explain: "A declared exit point must lie outside [start_ip, post_commit_ip) of its section.";
        /// A relocation against a symbol the file does not define.
        UnresolvedRelocation = "rseq-unresolved-relocation", Warning,
            summary: "a descriptor or entry refers to a symbol the object does not define",
            hint: "verify the linked executable or shared object",
            explain: "A descriptor or branch refers to a symbol this object file does not define; it can only be checked after linking.";
    }
}
