//! Finding the critical sections of a file: the descriptors (`struct rseq_cs`) listed in
//! `__rseq_cs_ptr_array` and those present in `__rseq_cs`, and the declared exits of
//! `__rseq_exit_point_array`.
//!
//! `__rseq_cs` is scanned in 32-byte steps from its start, skipping all-zero padding and
//! slots that overlap a descriptor the pointer array already named (so a misaligned
//! descriptor is read once, at the address its pointer gives).

use std::collections::BTreeMap;

use rseq_abi::abi::offsets;
use serde::Serialize;

use super::finding::{Code, Finding};
use super::image::{names, Image};

/// `sizeof(struct rseq_cs)`.
pub const RSEQ_CS_SIZE: u64 = offsets::RSEQ_CS_SIZE as u64;

/// One `struct rseq_cs` as read from the file (after relocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    /// Address of the descriptor.
    pub addr: u64,
    /// `version`.
    pub version: u32,
    /// `flags`.
    pub flags: u32,
    /// `start_ip`.
    pub start_ip: u64,
    /// `post_commit_offset`.
    pub post_commit_offset: u64,
    /// `abort_ip`.
    pub abort_ip: u64,
    /// Whether `__rseq_cs_ptr_array` lists it.
    pub in_ptr_array: bool,
}

impl Descriptor {
    /// `start_ip + post_commit_offset`, `None` when it wraps.
    pub fn post_commit_ip(&self) -> Option<u64> {
        self.start_ip.checked_add(self.post_commit_offset)
    }

    /// Reads the descriptor at `addr`.
    fn read(image: &Image<'_>, addr: u64) -> Option<Descriptor> {
        image.bytes(addr, RSEQ_CS_SIZE as usize)?;
        let field = |offset: usize| addr.checked_add(offset as u64);
        Some(Descriptor {
            addr,
            version: image.read_u32(field(offsets::RSEQ_CS_VERSION)?)?,
            flags: image.read_u32(field(offsets::RSEQ_CS_FLAGS)?)?,
            start_ip: image.read_u64(field(offsets::RSEQ_CS_START_IP)?)?,
            post_commit_offset: image.read_u64(field(offsets::RSEQ_CS_POST_COMMIT_OFFSET)?)?,
            abort_ip: image.read_u64(field(offsets::RSEQ_CS_ABORT_IP)?)?,
            in_ptr_array: false,
        })
    }
}

/// One `(start_ip, exit_ip)` pair of `__rseq_exit_point_array`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExitPoint {
    /// Address of the pair.
    pub addr: u64,
    /// The section's start_ip.
    pub start_ip: u64,
    /// Where the section may leave to.
    pub exit_ip: u64,
}

/// Everything the metadata sections say.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Descriptors by address.
    pub descriptors: BTreeMap<u64, Descriptor>,
    /// Declared exits.
    pub exits: Vec<ExitPoint>,
    /// Problems with the arrays themselves.
    pub findings: Vec<Finding>,
    /// The source function of each descriptor (by address), from `__rseq_cs_function`.
    pub functions: BTreeMap<u64, String>,
}

/// Reads all descriptors and exit points of `image`.
pub fn discover(image: &Image<'_>) -> Discovery {
    let mut out = Discovery::default();

    for region in image.regions_named(names::RSEQ_CS_PTR_ARRAY) {
        for (i, word) in region.data.chunks_exact(8).enumerate() {
            let entry = region.addr.wrapping_add((i as u64) * 8);
            let target = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            if target == 0 {
                if let Some(name) = image.unresolved.get(&entry) {
                    out.findings.push(Finding::new(
                        Code::UnresolvedRelocation,
                        Some(entry),
                        format!(
                            "__rseq_cs_ptr_array entry at {entry:#x} refers to `{name}`, which this file does not define"
                        ),
                    ));
                }
                continue;
            }
            match Descriptor::read(image, target) {
                Some(mut d) => {
                    d.in_ptr_array = true;
                    out.descriptors.insert(target, d);
                }
                None => out.findings.push(Finding::new(
                    Code::PtrArrayDangling,
                    Some(entry),
                    format!(
                        "__rseq_cs_ptr_array entry at {entry:#x} points to {target:#x}, where the file holds no 32-byte descriptor"
                    ),
                )),
            }
        }
    }

    let listed: Vec<(u64, u64)> = out
        .descriptors
        .keys()
        .map(|&a| (a, a.saturating_add(RSEQ_CS_SIZE)))
        .collect();
    for region in image.regions_named(names::RSEQ_CS) {
        let mut off = 0u64;
        // Bounded by the bytes present, not by a (possibly corrupt) section size.
        while off.saturating_add(RSEQ_CS_SIZE) <= region.data.len() as u64 {
            let addr = region.addr.wrapping_add(off);
            off += RSEQ_CS_SIZE;
            let Some(end) = addr.checked_add(RSEQ_CS_SIZE) else {
                break;
            };
            let overlaps = {
                let i = listed.partition_point(|&(_, e)| e <= addr);
                listed.get(i).is_some_and(|&(s, _)| s < end)
            };
            if overlaps {
                continue;
            }
            let Some(bytes) = image.bytes(addr, RSEQ_CS_SIZE as usize) else {
                continue;
            };
            if bytes.iter().all(|&b| b == 0) {
                continue;
            }
            if let Some(d) = Descriptor::read(image, addr) {
                out.descriptors.insert(addr, d);
            }
        }
    }

    for region in image.regions_named(names::RSEQ_CS_FUNCTION) {
        out.functions.extend(function_records(&region.data));
    }

    for region in image.regions_named(names::RSEQ_EXIT_POINT_ARRAY) {
        for (i, pair) in region.data.chunks_exact(16).enumerate() {
            let addr = region.addr.wrapping_add((i as u64) * 16);
            let start_ip = u64::from_le_bytes(pair[..8].try_into().unwrap_or([0; 8]));
            let exit_ip = u64::from_le_bytes(pair[8..].try_into().unwrap_or([0; 8]));
            if start_ip == 0 && exit_ip == 0 {
                continue;
            }
            out.exits.push(ExitPoint {
                addr,
                start_ip,
                exit_ip,
            });
        }
    }
    out
}

/// Parses the records of a `__rseq_cs_function` section: an 8-byte descriptor address, the
/// NUL-terminated name, padding to the next multiple of 8. Stops at the first record that
/// does not fit; zero words between records (section alignment) are skipped.
pub(crate) fn function_records(data: &[u8]) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while let Some(word) = data.get(off..off.saturating_add(8)) {
        let addr = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        off += 8;
        if addr == 0 {
            continue;
        }
        let Some(rest) = data.get(off..) else {
            break;
        };
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            break;
        };
        out.push((addr, String::from_utf8_lossy(&rest[..len]).into_owned()));
        off = match off
            .checked_add(len + 1)
            .and_then(|e| e.checked_next_multiple_of(8))
        {
            Some(next) => next,
            None => break,
        };
    }
    out
}

#[cfg(test)]
mod function_record_tests {
    use super::function_records;

    #[test]
    fn records_are_read_and_bounded() {
        let mut data = Vec::new();
        data.extend_from_slice(&0x40u64.to_le_bytes());
        data.extend_from_slice(b"app::cas_inc\0\0\0\0"); // 12 bytes and a NUL, padded to 16
        data.extend_from_slice(&0x60u64.to_le_bytes());
        data.extend_from_slice(b"a::b\0\0\0\0");
        data.extend_from_slice(&0x80u64.to_le_bytes());
        data.extend_from_slice(b"unterminated");
        assert_eq!(
            function_records(&data),
            vec![
                (0x40, "app::cas_inc".to_string()),
                (0x60, "a::b".to_string())
            ]
        );
    }
}
