//! The rseq diagnostics: a stable catalog of kebab-case codes, each with a severity, a
//! one-line summary, a fix hint and a long explanation (`rseq-link-check explain CODE`).

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

/// The catalog of diagnostic codes. The kebab-case names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// The C library registers rseq itself and a module also registers its own `__rseq_abi`.
    GlibcOwnsRegistration,
    /// Definitions of `__rseq_abi` differ in size and the winner is smaller than what a
    /// losing module was built for.
    WinnerTooSmall,
    /// Definitions of `__rseq_abi` differ in size; the winner is at least as large as all.
    SizeMismatch,
    /// Modules bind to different definitions: the process holds several areas.
    SplitInstance,
    /// A definition of `__rseq_abi` that is not thread-local.
    NonTlsDefinition,
    /// A definition of `__rseq_abi` aligned below what registration needs.
    UnderAligned,
    /// An initial-exec TLS module that would be loaded by `dlopen`.
    StaticTlsInDlopen,
    /// An unversioned definition of `__rseq_offset`/`__rseq_size`/`__rseq_flags` that
    /// captures the C library's own references.
    CapturesGlibcRseqSymbol,
    /// A DT_NEEDED file is not found: the loader refuses to start the program.
    MissingDependency,
    /// A required symbol version is not defined: the loader refuses to start the program.
    MissingVersion,
    /// The static linker refuses the link (two strong definitions, TLS meeting non-TLS).
    LinkRejected,
    /// Definitions of different sizes meet in one static link.
    LinkSizeMismatch,
    /// A shared library's version script makes its `__rseq_abi` local: a private copy.
    VersionScriptLocal,
    /// `--gc-sections` drops the definition from the output.
    GcDropsDefinition,
    /// GNU ld and lld would resolve the symbol differently.
    LinkersDisagree,
    /// A rule of critical-section verification; [`crate::verify::Code`] is that part of
    /// the catalog (`rseq-*` codes).
    #[serde(untagged)]
    CriticalSection(crate::verify::Code),
}

/// Every code, in catalog order.
pub const CATALOG: &[Code] = &[
    Code::GlibcOwnsRegistration,
    Code::WinnerTooSmall,
    Code::SizeMismatch,
    Code::SplitInstance,
    Code::NonTlsDefinition,
    Code::UnderAligned,
    Code::StaticTlsInDlopen,
    Code::CapturesGlibcRseqSymbol,
    Code::MissingDependency,
    Code::MissingVersion,
    Code::LinkRejected,
    Code::LinkSizeMismatch,
    Code::VersionScriptLocal,
    Code::GcDropsDefinition,
    Code::LinkersDisagree,
];

impl Code {
    /// The stable kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::GlibcOwnsRegistration => "glibc-owns-registration",
            Code::WinnerTooSmall => "winner-too-small",
            Code::SizeMismatch => "size-mismatch",
            Code::SplitInstance => "split-instance",
            Code::NonTlsDefinition => "non-tls-definition",
            Code::UnderAligned => "under-aligned",
            Code::StaticTlsInDlopen => "static-tls-in-dlopen",
            Code::CapturesGlibcRseqSymbol => "captures-glibc-rseq-symbol",
            Code::MissingDependency => "missing-dependency",
            Code::MissingVersion => "missing-version",
            Code::LinkRejected => "link-rejected",
            Code::LinkSizeMismatch => "link-size-mismatch",
            Code::VersionScriptLocal => "version-script-local",
            Code::GcDropsDefinition => "gc-drops-definition",
            Code::LinkersDisagree => "linkers-disagree",
            Code::CriticalSection(c) => c.as_str(),
        }
    }

    /// Looks a code up by its kebab-case name.
    pub fn from_name(name: &str) -> Option<Code> {
        CATALOG
            .iter()
            .copied()
            .find(|c| c.as_str() == name)
            .or_else(|| crate::verify::Code::from_name(name).map(Code::CriticalSection))
    }

    /// The severity findings of this code carry.
    pub fn severity(self) -> Severity {
        match self {
            Code::SizeMismatch => Severity::Warning,
            Code::StaticTlsInDlopen => Severity::Warning,
            Code::LinkSizeMismatch | Code::GcDropsDefinition | Code::LinkersDisagree => {
                Severity::Warning
            }
            Code::CriticalSection(c) => c.severity(),
            _ => Severity::Error,
        }
    }

    /// One line saying what the code means.
    pub fn summary(self) -> &'static str {
        match self {
            Code::GlibcOwnsRegistration => "the C library registers rseq and a module registers its own __rseq_abi too",
            Code::WinnerTooSmall => "the winning __rseq_abi is smaller than what another module was built for",
            Code::SizeMismatch => "definitions of __rseq_abi differ in size",
            Code::SplitInstance => "modules use different __rseq_abi instances",
            Code::NonTlsDefinition => "__rseq_abi is defined as a non-TLS symbol",
            Code::UnderAligned => "__rseq_abi is aligned below the 32 bytes registration needs",
            Code::StaticTlsInDlopen => "an initial-exec TLS module would be loaded by dlopen",
            Code::CapturesGlibcRseqSymbol => "an unversioned __rseq_offset/__rseq_size/__rseq_flags captures the C library's references",
            Code::MissingDependency => "a needed library is not found; the program does not start",
            Code::MissingVersion => "a required symbol version is not defined; the program does not start",
            Code::LinkRejected => "the static linker refuses the link",
            Code::LinkSizeMismatch => "definitions of __rseq_abi with different sizes meet in one link",
            Code::VersionScriptLocal => "a shared library's version script makes its __rseq_abi local",
            Code::GcDropsDefinition => "--gc-sections drops the definition from the output",
            Code::LinkersDisagree => "GNU ld and lld resolve the symbol differently",
            Code::CriticalSection(c) => c.summary(),
        }
    }

    /// The default fix hint.
    pub fn hint(self) -> &'static str {
        match self {
            Code::GlibcOwnsRegistration => "use the C library's area through __rseq_offset/__rseq_size instead of registering, or run with GLIBC_TUNABLES=glibc.pthread.rseq=0",
            Code::WinnerTooSmall => "rebuild the smaller definition against the current struct rseq, or drop it so every module binds to the largest one",
            Code::SizeMismatch => "make all modules share one definition of the current size",
            Code::SplitInstance => "export one default-visibility TLS __rseq_abi from a single module and make the others reference it (no protected/hidden copies, no -Bsymbolic, no version-script local)",
            Code::NonTlsDefinition => "declare __rseq_abi as __thread / #[thread_local] so each thread has its own area",
            Code::UnderAligned => "declare the area with __attribute__((aligned(32))) (struct rseq's alignment)",
            Code::StaticTlsInDlopen => "build the module with -ftls-model=global-dynamic, or link it into the executable instead of loading it with dlopen",
            Code::CapturesGlibcRseqSymbol => "remove the definition, or give it a private name; the C library exports these symbols from ld.so",
            Code::MissingDependency => "install the library, or add its directory with --library-path / LD_LIBRARY_PATH, RUNPATH or ldconfig",
            Code::MissingVersion => "run against a library that defines the version (usually a newer one), or rebuild against the one installed",
            Code::LinkRejected => "keep one strong definition (make the others weak or remove them) and declare every definition and reference of a thread-local symbol as thread-local",
            Code::LinkSizeMismatch => "link one definition of the current size (drop the C library's copy or the `legacy-rseq-abi` feature)",
            Code::VersionScriptLocal => "export __rseq_abi from the library (add it to the version script's global list) or stop defining it there and reference the executable's",
            Code::GcDropsDefinition => "reference the definition from live code, keep it with -u __rseq_abi / #[used], or export it (--export-dynamic / --dynamic-list)",
            Code::LinkersDisagree => "make the link order-independent: name the providing object or archive before its users, or wrap archives in --start-group/--end-group",
            Code::CriticalSection(c) => c.hint(),
        }
    }

    /// The long explanation shown by `explain`.
    pub fn explain(self) -> &'static str {
        match self {
            Code::CriticalSection(c) => c.explain(),
            Code::GlibcOwnsRegistration => {
                "\
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

A module that defines __rseq_abi but also references __rseq_offset or __rseq_size (or holds
the name __rseq_offset for dlsym) is taken to do just that, as librseq does since glibc 2.35:
it is reported as a warning (its own area stays unregistered and unused). Another module that
reads such a module's __rseq_abi directly, without finding glibc's area itself, reads an area
nobody registers: that is an error naming the reader."
            }
            Code::WinnerTooSmall => {
                "\
Several modules define __rseq_abi with different st_size values. The dynamic loader binds all
interposable references to one definition (the first in lookup scope). A module built for a
larger struct rseq (for example with mm_cid at offset 24) that ends up using a smaller winner
reads and writes past the end of the object the kernel knows about, into neighbouring TLS."
            }
            Code::SizeMismatch => {
                "\
Several modules define __rseq_abi with different sizes. The winner is at least as large as
every other definition, so nothing is out of bounds, but the modules were built against
different views of struct rseq; features beyond a module's size are invisible to it."
            }
            Code::SplitInstance => {
                "\
A process has exactly one registered rseq area per thread. When modules bind __rseq_abi to
different definitions (because one keeps a private copy: protected or hidden visibility,
-Bsymbolic / DT_SYMBOLIC, a version-script local symbol, an executable definition that is not
exported in .dynsym, a Rust cdylib, or RTLD_DEEPBIND / RTLD_LOCAL scopes), the kernel updates
only the registered one. Code using the other sees cpu_id stay at its initial value and its
critical sections are never aborted, so per-CPU data is silently corrupted. The finding
lists which module binds to which definition, and why."
            }
            Code::NonTlsDefinition => {
                "\
__rseq_abi must be thread-local: the kernel registers one area per thread. A definition that
is a plain global object (STT_OBJECT) makes all threads share one area; the second thread's
registration fails or, worse, the kernel overwrites fields another thread is using."
            }
            Code::UnderAligned => {
                "\
struct rseq is declared with 32-byte alignment and the rseq system call rejects an area
that is not aligned to it (EINVAL). The alignment of a TLS definition is the alignment of the
TLS segment combined with the symbol's offset inside it; when it is below 32 the
registration fails."
            }
            Code::StaticTlsInDlopen => {
                "\
A module whose code uses the initial-exec TLS model (DF_STATIC_TLS; the usual model for
__rseq_abi accesses) needs its TLS block inside the static TLS area allocated at program
start. When such a module is loaded later with dlopen, glibc can place it only in the small
surplus of that area (tunable glibc.rtld.optional_static_tls); once it is exhausted, dlopen
fails with \"cannot allocate memory in static TLS block\"."
            }
            Code::CapturesGlibcRseqSymbol => {
                "\
The C library's own code references __rseq_offset, __rseq_size and __rseq_flags with version
GLIBC_2.35 and expects ld.so's definitions. glibc's lookup accepts an unversioned definition
for a versioned reference, so a module earlier in the lookup scope that defines one of these
names without a version captures the C library's references, and glibc's rseq code then
reads the wrong values."
            }
            Code::MissingDependency => {
                "\
A DT_NEEDED entry could not be found along the loader's search path (DT_RPATH of the loading
chain, LD_LIBRARY_PATH, DT_RUNPATH, /etc/ld.so.cache, the default directories). The real
loader stops with \"cannot open shared object file\" before the program runs."
            }
            Code::MissingVersion => {
                "\
A module requires a symbol version (SHT_GNU_verneed) that the library it names does not
define. The real loader stops with \"version `X' not found (required by Y)\" before the
program runs."
            }
            Code::LinkRejected => {
                "\
The static linker stops with an error: two non-weak definitions of one symbol (GNU ld:
\"multiple definition of\", lld: \"duplicate symbol\"), or a thread-local definition meeting a
non-thread-local definition or reference (GNU ld: \"TLS definition in A mismatches non-TLS
definition in B\", lld: \"TLS attribute mismatch\"). GNU ld checks every pair of definitions
and plain references; lld checks only when a definition replaces another. The prediction
names both inputs."
            }
            Code::LinkSizeMismatch => {
                "\
Two definitions of __rseq_abi with different st_size values meet in one static link. GNU ld
warns about size changes only for common and non-TLS data symbols; for weak or thread-local
definitions (Rust's opt-in 32-byte weak TLS definition, a C library's own copy) it silently
keeps the strong one (or the first weak one). Code compiled against the losing definition then
uses the winner's object: if the winner is smaller it reads and writes past its end."
            }
            Code::VersionScriptLocal => {
                "\
A shared library is linked with a version script whose `local:` patterns (rustc writes
`local: *;` for every cdylib and lists only Rust-exported symbols under `global:`) cover
__rseq_abi. The definition stays in the library but leaves .dynsym, so the library's own code
keeps using a private copy the dynamic loader cannot interpose: the process ends up with two
areas, and only one of them is registered with the kernel."
            }
            Code::GcDropsDefinition => {
                "\
With --gc-sections (rustc passes it for every binary) the linker discards input sections no
root reaches: exported symbols, the entry point, -u symbols, init/fini arrays, notes and
retained sections. A definition of __rseq_abi nothing references is discarded with its
section: the output neither defines nor exports it, and modules that expected to share it
bind elsewhere or stay unresolved."
            }
            Code::LinkersDisagree => {
                "\
GNU ld visits each archive once, at its position on the command line, and takes only members
that satisfy references undefined at that moment; lld keeps every archive symbol available for
the whole link. When a definition lives in an archive that precedes its users (or a weak
definition competes with an archive member), the two linkers produce different outputs from
the same command line. rustc links with lld by default on x86_64 Linux; a C toolchain uses GNU
ld."
            }
        }
    }
}

impl std::fmt::Display for Code {
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
        for &c in CATALOG {
            assert_eq!(Code::from_name(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert!(!c.explain().is_empty() && !c.hint().is_empty());
        }
        assert_eq!(Code::from_name("no-such-code"), None);
    }
}
