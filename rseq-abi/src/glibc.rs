//! glibc's rseq registration, found at run time without a link-time dependency.
//!
//! glibc 2.35 and later (and distribution backports) register an rseq area for every
//! thread and export its location from the dynamic loader as `__rseq_offset`,
//! `__rseq_size` and `__rseq_flags` (version `GLIBC_2.35`). These symbols are absent on
//! musl and older glibc, so they are looked up with `dlsym(RTLD_DEFAULT, ...)` rather than
//! linked. `__rseq_size` is 0 when glibc did not register (`glibc.pthread.rseq=0`).
//!
//! In a statically linked program (`-C target-feature=+crt-static`) `dlsym` cannot see
//! them; there weak references, which the static linker resolves to the C library's
//! definitions or to 0, find them (x86_64 and aarch64). Weak references are used only in
//! static links: in a dynamic link they would record a hard `GLIBC_2.35` version need.
//!
//! # Safety
//!
//! Uses `unsafe` to call `dlsym(3)`, to load weak symbol addresses from the GOT, and to
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

fn lookup(name: &CStr) -> *mut libc::c_void {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT searches the global scope and
    // returns NULL when the symbol is absent.
    let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if found.is_null() {
        static_link::address(name)
    } else {
        found
    }
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
    let offset = lookup(c"__rseq_offset") as *const isize;
    let size = lookup(c"__rseq_size") as *const u32;
    let flags = lookup(c"__rseq_flags") as *const u32;
    if offset.is_null() || size.is_null() {
        return None;
    }
    // SAFETY: glibc defines `const ptrdiff_t __rseq_offset` and `const unsigned int
    // __rseq_size, __rseq_flags`; dlsym returned their addresses, which are valid for
    // the life of the process (they live in ld.so) and suitably aligned.
    let (offset, size) = unsafe { (offset.read(), size.read()) };
    let flags = if flags.is_null() {
        0
    } else {
        // SAFETY: as above, for `__rseq_flags`, which dlsym found.
        unsafe { flags.read() }
    };
    Some(GlibcRseq {
        offset,
        size,
        flags,
    })
}

/// `gnu_get_libc_version()`, looked up with `dlsym` so that other C libraries link too;
/// `None` when the C library is not glibc.
pub fn libc_version() -> Option<&'static str> {
    let f = lookup(c"gnu_get_libc_version");
    if f.is_null() {
        return None;
    }
    // SAFETY: glibc declares `const char *gnu_get_libc_version(void)`; the pointer dlsym
    // returned is that function.
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
