//! glibc's rseq registration, found at run time without a link-time dependency.
//!
//! glibc 2.35 and later (and distribution backports) register an rseq area for every
//! thread and export its location from the dynamic loader as `__rseq_offset`,
//! `__rseq_size` and `__rseq_flags` (version `GLIBC_2.35`). These symbols are absent on
//! musl and older glibc, so they are looked up at run time rather than linked.
//!
//! They are looked up in glibc's own scope, by name *and version*:
//! `dlvsym(handle, name, "GLIBC_2.35")`, where `handle` is `dlopen("libc.so.6",
//! RTLD_NOLOAD)`, whose local scope is libc.so.6 and its dependency, the dynamic loader
//! (which defines the rseq variables). A plain `dlsym(RTLD_DEFAULT, ..)` returns the
//! first definition in the *global* scope, so a preloaded or earlier library defining
//! `__rseq_offset` would be read as glibc's (8 bytes from whatever it is), and any
//! function named `gnu_get_libc_version` would be called. The version alone is not
//! enough: the dynamic loader lets a definition in an object without symbol versioning
//! satisfy any versioned lookup, so `dlvsym(RTLD_DEFAULT, ..)` still finds an
//! unversioned interposer; the scope is what excludes it, and the version then excludes
//! anything but glibc's definition inside that scope. `gnu_get_libc_version` is looked up
//! with the architecture's base glibc version (`GLIBC_2.2.5` on x86_64, `GLIBC_2.17` on
//! aarch64, `GLIBC_2.27` on riscv64: `objdump -T libc.so.6`). On C libraries other than
//! glibc (`target_env` not `gnu`) there is no `dlvsym` and none of these symbols: nothing
//! is looked up. `__rseq_size` is 0 when glibc did not register
//! (`glibc.pthread.rseq=0`).
//!
//! In a statically linked program (`-C target-feature=+crt-static`) there is no loaded
//! libc.so.6 for `dlopen` to return; there weak references, which the static linker resolves to the C library's
//! definitions or to 0, find them (x86_64 and aarch64). Weak references are used only in
//! static links: in a dynamic link they would record a hard `GLIBC_2.35` version need.
//!
//! # Safety
//!
//! Uses `unsafe` to call `dlopen(3)`, `dlvsym(3)` and `dlclose(3)`, to load weak symbol addresses from the GOT, and to
//! read the C library's exported variables.
#![allow(unsafe_code)]

use core::ffi::{c_char, CStr};

/// The values of glibc's exported rseq variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlibcRseq {
    /// `__rseq_offset`: offset of each thread's area from the thread pointer.
    pub offset: isize,
    /// `__rseq_size`: 0 when glibc did not register; otherwise 32 (glibc 2.35-2.39),
    /// 20 (2.40 and backports, same 32-byte registration) or the extended size (2.41+).
    pub size: u32,
    /// `__rseq_flags`: the flags glibc registered with (0).
    pub flags: u32,
}

impl GlibcRseq {
    /// The length glibc passed to `rseq(2)`: glibc always registers at least
    /// [`ORIG_RSEQ_SIZE`](crate::abi::ORIG_RSEQ_SIZE) bytes, whatever `__rseq_size` says.
    pub fn registered_len(&self) -> u32 {
        self.size.max(crate::abi::ORIG_RSEQ_SIZE)
    }
}

/// The version of glibc's rseq variables.
const GLIBC_2_35: &CStr = c"GLIBC_2.35";

/// The base symbol version of glibc on this architecture: the version of the symbols it
/// had from its first release there, such as `gnu_get_libc_version`.
#[cfg(target_arch = "x86_64")]
const GLIBC_BASE: &CStr = c"GLIBC_2.2.5";
#[cfg(target_arch = "aarch64")]
const GLIBC_BASE: &CStr = c"GLIBC_2.17";
#[cfg(target_arch = "riscv64")]
const GLIBC_BASE: &CStr = c"GLIBC_2.27";

/// glibc's definition of `name` at `version` in the global scope, or null; in a static
/// link, the weak reference's target.
fn lookup(name: &CStr, version: &CStr) -> *mut libc::c_void {
    let found = dynamic_lookup(name, version);
    if found.is_null() {
        static_link::address(name)
    } else {
        found
    }
}

/// glibc's definition of `name` at `version`, searched in the local scope of the loaded
/// libc.so.6 (itself and the dynamic loader), or null.
#[cfg(target_env = "gnu")]
fn dynamic_lookup(name: &CStr, version: &CStr) -> *mut libc::c_void {
    // SAFETY: the name is NUL-terminated; with RTLD_NOLOAD, `dlopen` only returns a handle
    // to an object already loaded (adding a reference), or null.
    let handle =
        unsafe { libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD) };
    if handle.is_null() {
        return core::ptr::null_mut(); // a static link, or not glibc
    }
    // SAFETY: `handle` is a live handle; `name` and `version` are NUL-terminated; `dlvsym`
    // returns null when the scope has no definition with that name and version.
    let found = unsafe { libc::dlvsym(handle, name.as_ptr(), version.as_ptr()) };
    // SAFETY: drops the reference `dlopen` added; libc.so.6 stays loaded (the process
    // links it), so `found` stays valid.
    unsafe { libc::dlclose(handle) };
    found
}

/// Not glibc: none of its symbols exist, whatever another library may call its own.
#[cfg(not(target_env = "gnu"))]
fn dynamic_lookup(_name: &CStr, _version: &CStr) -> *mut libc::c_void {
    core::ptr::null_mut()
}

/// Weak references to glibc's variables, for statically linked programs.
#[cfg(all(
    target_feature = "crt-static",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod static_link {
    use core::ffi::{c_void, CStr};

    core::arch::global_asm!(
        ".weak __rseq_offset",
        ".weak __rseq_size",
        ".weak __rseq_flags"
    );

    #[cfg(target_arch = "x86_64")]
    macro_rules! weak_address {
        ($sym:literal) => {{
            let a: *mut c_void;
            // SAFETY: loads the GOT entry of a weak symbol, which the static linker fills
            // with its address or 0; the load has no side effect.
            unsafe {
                core::arch::asm!(
                    concat!("mov {}, qword ptr [rip + ", $sym, "@GOTPCREL]"),
                    out(reg) a,
                    options(nostack, preserves_flags, readonly, pure)
                )
            };
            a
        }};
    }

    #[cfg(target_arch = "aarch64")]
    macro_rules! weak_address {
        ($sym:literal) => {{
            let a: *mut c_void;
            // SAFETY: loads the GOT entry of a weak symbol, which the static linker fills
            // with its address or 0; the load has no side effect.
            unsafe {
                core::arch::asm!(
                    concat!("adrp {0}, :got:", $sym),
                    concat!("ldr {0}, [{0}, #:got_lo12:", $sym, "]"),
                    out(reg) a,
                    options(nostack, preserves_flags, readonly, pure)
                )
            };
            a
        }};
    }

    /// The address of one of glibc's rseq variables, or null.
    pub(super) fn address(name: &CStr) -> *mut c_void {
        match name.to_bytes() {
            b"__rseq_offset" => weak_address!("__rseq_offset"),
            b"__rseq_size" => weak_address!("__rseq_size"),
            b"__rseq_flags" => weak_address!("__rseq_flags"),
            _ => core::ptr::null_mut(),
        }
    }
}

/// Dynamic links see glibc's variables through `dlsym` only.
#[cfg(not(all(
    target_feature = "crt-static",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod static_link {
    use core::ffi::{c_void, CStr};

    /// Always null: no weak references in dynamic links.
    pub(super) fn address(_name: &CStr) -> *mut c_void {
        core::ptr::null_mut()
    }
}

/// Reads `__rseq_offset`, `__rseq_size` and `__rseq_flags`, or `None` when the C library
/// does not export them (musl, glibc before 2.35, a static binary without them).
pub fn rseq_symbols() -> Option<GlibcRseq> {
    let offset = lookup(c"__rseq_offset", GLIBC_2_35) as *const isize;
    let size = lookup(c"__rseq_size", GLIBC_2_35) as *const u32;
    let flags = lookup(c"__rseq_flags", GLIBC_2_35) as *const u32;
    if offset.is_null() || size.is_null() {
        return None;
    }
    // SAFETY: glibc defines `const ptrdiff_t __rseq_offset` and `const unsigned int
    // __rseq_size, __rseq_flags`; dlvsym returned the addresses of glibc's definitions, which are valid for
    // the life of the process (they live in ld.so) and suitably aligned.
    let (offset, size) = unsafe { (offset.read(), size.read()) };
    let flags = if flags.is_null() {
        0
    } else {
        // SAFETY: as above, for `__rseq_flags`, which dlvsym found.
        unsafe { flags.read() }
    };
    Some(GlibcRseq {
        offset,
        size,
        flags,
    })
}

/// `gnu_get_libc_version()`, looked up with `dlvsym` at glibc's base version so that
/// other C libraries link too and no same-named function of another library is called;
/// `None` when the C library is not glibc.
pub fn libc_version() -> Option<&'static str> {
    let f = dynamic_lookup(c"gnu_get_libc_version", GLIBC_BASE);
    if f.is_null() {
        return None;
    }
    // SAFETY: glibc declares `const char *gnu_get_libc_version(void)`; the pointer dlvsym
    // returned is glibc's definition of it.
    let f: unsafe extern "C" fn() -> *const c_char = unsafe { core::mem::transmute(f) };
    // SAFETY: the function takes no arguments and returns a pointer to a static string.
    let p = unsafe { f() };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` points to a NUL-terminated string in glibc's read-only data, alive for
    // the life of the process.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}
