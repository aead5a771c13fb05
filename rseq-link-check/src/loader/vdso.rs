//! The kernel's vDSO. The loader binds a few of its symbols at start-up; the image is the
//! same in every process on this kernel, so the model reads it from its own process through
//! `/proc/self/maps` and `/proc/self/mem` (plain file reads, no pointer access).

use std::io::{Read, Seek, SeekFrom};

use crate::elf::{ElfFile, Machine};

/// Reads this process's vDSO, if the host machine is `machine`.
pub fn load(machine: Machine) -> Option<ElfFile> {
    let host = if cfg!(target_arch = "x86_64") {
        Machine::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Machine::Aarch64
    } else {
        return None;
    };
    if host != machine {
        return None;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with("[vdso]"))?;
    let range = line.split_whitespace().next()?;
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    let len = usize::try_from(end.checked_sub(start)?).ok()?;
    if len > 1 << 20 {
        return None;
    }
    let mut mem = std::fs::File::open("/proc/self/mem").ok()?;
    mem.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = vec![0u8; len];
    mem.read_exact(&mut bytes).ok()?;
    ElfFile::from_bytes("linux-vdso.so.1".as_ref(), bytes).ok()
}
