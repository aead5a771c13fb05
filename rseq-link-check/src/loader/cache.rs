//! `/etc/ld.so.cache` in the format glibc 2.36 reads (`elf/dl-cache.c`, `sysdeps/generic/dl-cache.h`):
//! an optional old-format (`ld.so-1.7.0`) prefix, then the new format `glibc-ld.so.cache1.1`
//! with 24-byte entries whose key and value are offsets from the start of the new header,
//! and the glibc-hwcaps extension naming a subdirectory per entry.

use std::collections::HashMap;
use std::path::Path;

use crate::elf::Machine;

const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_ENTRY: usize = 12;
const EXTENSION_MAGIC: u32 = 0xeaa4_2174;
const EXTENSION_TAG_GLIBC_HWCAPS: u32 = 1;
const DL_CACHE_HWCAP_EXTENSION: u64 = 1 << 62;
const FLAG_ELF_LIBC6: i32 = 0x0003;
/// glibc-hwcaps subdirectory names read from the extension (ldconfig writes a handful).
const MAX_HWCAPS_NAMES: usize = 64;

/// The parsed cache: for each library name, the path the loader would use.
#[derive(Debug, Default, Clone)]
pub struct LdCache {
    entries: HashMap<String, String>,
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    let b = d.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(d: &[u8], off: usize) -> Option<u64> {
    let b = d.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Longest name or path read from the cache (glibc's `PATH_MAX`, terminating NUL included):
/// a longer string is no usable entry, and the bound keeps each string read short whatever
/// a crafted file holds (otherwise every entry pointing into one long unterminated run would
/// scan to the end of the file: quadratic in its size).
const MAX_STRING: usize = 4096;

fn cstr_at(d: &[u8], off: usize) -> Option<&str> {
    let rest = d.get(off..)?;
    let end = memchr::memchr(0, &rest[..rest.len().min(MAX_STRING)])?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The cache flag value glibc accepts for `machine` (`_DL_CACHE_DEFAULT_ID`).
fn default_id(machine: Machine) -> i32 {
    match machine {
        Machine::X86_64 => 0x0300 | FLAG_ELF_LIBC6,
        Machine::Aarch64 => 0x0a00 | FLAG_ELF_LIBC6,
    }
}

impl LdCache {
    /// Reads the cache file; a missing or unreadable cache is an empty cache, as for glibc.
    pub fn load(path: &Path, machine: Machine, hwcaps: &[String]) -> LdCache {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes, machine, hwcaps).unwrap_or_default(),
            Err(_) => LdCache::default(),
        }
    }

    /// Parses cache bytes. `hwcaps` lists the supported glibc-hwcaps subdirectory names in
    /// priority order (best first). Returns `None` for an unrecognised or truncated file.
    pub fn parse(bytes: &[u8], machine: Machine, hwcaps: &[String]) -> Option<LdCache> {
        let mut start = 0usize;
        if bytes.starts_with(OLD_MAGIC) {
            let nlibs = u32_at(bytes, OLD_MAGIC.len())? as usize;
            let off = OLD_MAGIC.len() + 4 + nlibs.checked_mul(OLD_ENTRY)?;
            // The new format follows, aligned to the entry alignment.
            start = off.checked_add(7)? & !7;
            if !bytes.get(start..)?.starts_with(NEW_MAGIC) {
                start = off;
            }
        }
        let d = bytes.get(start..)?;
        if !d.starts_with(NEW_MAGIC) {
            return None;
        }
        let nlibs = u32_at(d, 20)? as usize;
        let ext_off = u32_at(d, 32)? as usize;
        let table_end = NEW_HEADER.checked_add(nlibs.checked_mul(NEW_ENTRY)?)?;
        if table_end > d.len() {
            return None;
        }
        // glibc-hwcaps extension: array of string offsets, indexed by the entry's hwcap low bits.
        let mut hwcap_names: Vec<String> = Vec::new();
        if ext_off != 0 && u32_at(d, ext_off) == Some(EXTENSION_MAGIC) {
            let count = u32_at(d, ext_off + 4)? as usize;
            for i in 0..count.min(64) {
                let sec = ext_off + 8 + i * 16;
                let tag = u32_at(d, sec)?;
                let offset = u32_at(d, sec + 8)? as usize;
                let size = u32_at(d, sec + 12)? as usize;
                if tag == EXTENSION_TAG_GLIBC_HWCAPS {
                    // Bounded in total: each name is copied, and a crafted table can name
                    // one long string many times.
                    let room = MAX_HWCAPS_NAMES.saturating_sub(hwcap_names.len());
                    for j in 0..(size / 4).min(room) {
                        let s = u32_at(d, offset + j * 4)? as usize;
                        // An unreadable name keeps its index and matches nothing.
                        hwcap_names.push(cstr_at(d, s).unwrap_or_default().to_string());
                    }
                }
            }
        }
        let want = default_id(machine);
        // For each key: best glibc-hwcaps priority, else the first plain entry.
        let mut best: HashMap<String, (usize, String)> = HashMap::new();
        for i in 0..nlibs {
            let e = NEW_HEADER + i * NEW_ENTRY;
            let flags = u32_at(d, e)? as i32;
            let key = u32_at(d, e + 4)? as usize;
            let value = u32_at(d, e + 8)? as usize;
            let hwcap = u64_at(d, e + 16)?;
            if flags != want {
                continue;
            }
            let (Some(key), Some(value)) = (cstr_at(d, key), cstr_at(d, value)) else {
                continue;
            };
            let prio = if hwcap & DL_CACHE_HWCAP_EXTENSION != 0 {
                let idx = (hwcap & 0xffff_ffff) as usize;
                let Some(name) = hwcap_names.get(idx) else {
                    continue;
                };
                match hwcaps.iter().position(|h| h == name) {
                    Some(p) => p,
                    None => continue,
                }
            } else if hwcap != 0 {
                // Legacy hwcap-qualified entries are not selected by this model.
                continue;
            } else {
                usize::MAX
            };
            match best.get(key) {
                Some((p, _)) if *p <= prio => {}
                _ => {
                    best.insert(key.to_string(), (prio, value.to_string()));
                }
            }
        }
        Some(LdCache {
            entries: best.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        })
    }

    /// The path recorded for `name` (`_dl_load_cache_lookup`).
    pub fn lookup(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(String::as_str)
    }

    /// Number of usable entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no entry is usable.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_rejected() {
        assert!(LdCache::parse(b"not a cache", Machine::X86_64, &[]).is_none());
        assert!(LdCache::parse(
            b"glibc-ld.so.cache1.1\xff\xff\xff\xff",
            Machine::X86_64,
            &[]
        )
        .is_none());
    }
}
