//! What a module's file shows about who registers its `__rseq_abi`: evidence that its code
//! makes the rseq system call (or calls a known registration function), and the marker
//! `rseq-abi` emits beside its legacy area to say that it registers that area only when the
//! C library does not. Static heuristics over the file's bytes: a finding built on them
//! says what it saw and what it assumed.

use crate::elf::{ElfFile, Machine};

/// The string `rseq-abi` keeps in a retained section beside its `legacy-rseq-abi` area (and
/// as the name of a symbol there): the area is registered only while the C library does
/// not own registration.
pub const DEFERS_TO_GLIBC_MARKER_STR: &str = "__rseq_abi_rs_defers_to_glibc";
const DEFERS_TO_GLIBC_MARKER: &[u8] = DEFERS_TO_GLIBC_MARKER_STR.as_bytes();

/// Functions whose call registers an rseq area (librseq).
const REGISTRATION_FUNCTIONS: &[&[u8]] = &[b"rseq_register_current_thread"];

/// The rseq system call's number on x86_64 and aarch64.
const SYS_RSEQ_X86_64: u16 = 334;
const SYS_RSEQ_AARCH64: u16 = 293;

/// How far (in bytes) the system call or the call of `syscall()` may follow the load of
/// the rseq number.
const WINDOW: usize = 48;

/// True when `f` carries `rseq-abi`'s marker for an area it does not register while the C
/// library does.
pub fn defers_to_glibc(f: &ElfFile) -> bool {
    memchr::memmem::find(f.data(), DEFERS_TO_GLIBC_MARKER).is_some()
}

/// Evidence that `f` registers an rseq area itself: a short description of what was found
/// (the rseq system call number loaded shortly before a system call or a call, in
/// executable code; or a call of a known registration function), or `None`.
pub fn registration_evidence(f: &ElfFile) -> Option<String> {
    for name in REGISTRATION_FUNCTIONS {
        if f.find_dynamic(name, |_, s| s.is_undefined().then_some(()))
            .is_some()
            || f.static_symbols(name).next().is_some()
        {
            return Some(format!("it calls {}", String::from_utf8_lossy(name)));
        }
    }
    for s in f.sections().iter().filter(|s| s.is_execinstr()) {
        let Ok(code) = f.section_data(s) else {
            continue;
        };
        if let Some(off) = rseq_syscall_in(f.machine, code) {
            return Some(format!(
                "its code makes the rseq system call ({} at {:#x})",
                s.name_or_empty(),
                s.sh_addr.saturating_add(off as u64)
            ));
        }
    }
    None
}

/// The offset in `code` of a load of the rseq system-call number followed within
/// [`WINDOW`] bytes by a system call (number in the syscall register) or a call (number in
/// the first argument register: glibc's `syscall()`).
fn rseq_syscall_in(machine: Machine, code: &[u8]) -> Option<usize> {
    let within = |start: usize, needles: &[&[u8]]| {
        let end = code.len().min(start.saturating_add(WINDOW));
        let window = code.get(start..end).unwrap_or(&[]);
        needles
            .iter()
            .any(|n| memchr::memmem::find(window, n).is_some())
    };
    match machine {
        Machine::X86_64 => {
            let [lo, hi] = SYS_RSEQ_X86_64.to_le_bytes();
            // mov eax, 334 / mov rax, 334, then `syscall`.
            let to_rax: [&[u8]; 2] = [&[0xb8, lo, hi, 0, 0], &[0x48, 0xc7, 0xc0, lo, hi, 0, 0]];
            // mov edi, 334, then `call` (rel32 or through the GOT).
            let to_rdi: [&[u8]; 2] = [&[0xbf, lo, hi, 0, 0], &[0x48, 0xc7, 0xc7, lo, hi, 0, 0]];
            for (needles, follow) in [
                (&to_rax, &[&[0x0f_u8, 0x05][..]][..]),
                (&to_rdi, &[&[0xe8_u8][..], &[0xff, 0x15][..]][..]),
            ] {
                for n in needles {
                    for at in memchr::memmem::find_iter(code, n) {
                        if within(at + n.len(), follow) {
                            return Some(at);
                        }
                    }
                }
            }
            None
        }
        Machine::Aarch64 => {
            // movz x8/w8, #293 then `svc #0`; movz x0/w0, #293 then `bl`.
            let movz = |rd: u32, sf: bool| -> [u8; 4] {
                let base: u32 = if sf { 0xd280_0000 } else { 0x5280_0000 };
                (base | (u32::from(SYS_RSEQ_AARCH64) << 5) | rd).to_le_bytes()
            };
            let svc = 0xd400_0001_u32.to_le_bytes();
            for i in (0..code.len().saturating_sub(3)).step_by(4) {
                let word = &code[i..i + 4];
                if word == movz(8, true) || word == movz(8, false) {
                    let end = code.len().min(i + WINDOW);
                    if code[i..end].chunks_exact(4).any(|w| w == svc) {
                        return Some(i);
                    }
                }
                if word == movz(0, true) || word == movz(0, false) {
                    let end = code.len().min(i + WINDOW);
                    // `bl`: top six bits 100101.
                    if code[i..end].chunks_exact(4).any(|w| w[3] & 0xfc == 0x94) {
                        return Some(i);
                    }
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rseq_system_call() {
        // mov eax, 334; mov edi, ...; syscall
        let direct = [0xb8, 0x4e, 0x01, 0, 0, 0x48, 0x89, 0xc7, 0x0f, 0x05];
        assert_eq!(rseq_syscall_in(Machine::X86_64, &direct), Some(0));
        // mov edi, 334; mov eax, 0; call rel32 (glibc's syscall()).
        let wrapper = [0xbf, 0x4e, 0x01, 0, 0, 0xb8, 0, 0, 0, 0, 0xe8, 1, 2, 3, 4];
        assert_eq!(rseq_syscall_in(Machine::X86_64, &wrapper), Some(0));
        // mov eax, 334 with no system call after it: not evidence.
        let other = [0x90, 0xb8, 0x4e, 0x01, 0, 0, 0xc3];
        assert_eq!(rseq_syscall_in(Machine::X86_64, &other), None);
        // aarch64: mov x8, #293; svc #0.
        let mut a = Vec::new();
        a.extend_from_slice(&(0xd280_0000_u32 | (293 << 5) | 8).to_le_bytes());
        a.extend_from_slice(&0xd400_0001_u32.to_le_bytes());
        assert_eq!(rseq_syscall_in(Machine::Aarch64, &a), Some(0));
    }
}
