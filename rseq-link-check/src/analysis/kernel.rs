//! The rule that judges each `__rseq_abi` definition against a kernel's extensible rseq
//! ABI: how many bytes of `struct rseq` the kernel fills (`AT_RSEQ_FEATURE_SIZE`) and the
//! alignment it requires of a registration longer than the original 32 bytes
//! (`AT_RSEQ_ALIGN`), by default those of the running machine.

use super::definitions::Def;
use super::RSEQ_ABI;
use crate::diag::{Code, Diagnostic, Severity};
use crate::elf::SymbolKind;

/// The original registered length (and alignment) of `struct rseq`, which every kernel
/// accepts.
const ORIG_RSEQ_SIZE: u64 = 32;

/// The fields of `struct rseq` past the original 20 bytes, as (offset, end, name).
const FIELDS: &[(u64, u64, &str)] = &[
    (20, 24, "node_id"),
    (24, 28, "mm_cid"),
    (28, 32, "slice_ctrl"),
];

/// The kernel's extensible-rseq parameters a definition is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelRseq {
    /// `AT_RSEQ_FEATURE_SIZE`: the bytes of `struct rseq` the kernel fills.
    pub feature_size: u64,
    /// `AT_RSEQ_ALIGN`: the alignment of an area registered with more than 32 bytes.
    pub align: u64,
}

impl KernelRseq {
    /// The running machine's values (a kernel before 6.3, without the auxiliary-vector
    /// entries, fills 20 bytes and asks for 32-byte alignment).
    pub fn this_machine() -> KernelRseq {
        KernelRseq {
            feature_size: rseq_abi::auxv::rseq_feature_size().map_or(20, u64::from),
            align: rseq_abi::auxv::rseq_align().map_or(32, u64::from),
        }
    }
}

/// What a registration of `size` bytes loses on kernel `k`: the names of the fields (or the
/// byte range past the known ones) between `size` and the feature size.
fn lost_fields(size: u64, k: KernelRseq) -> String {
    let mut lost: Vec<String> = FIELDS
        .iter()
        .filter(|&&(_, end, _)| end > size && end <= k.feature_size)
        .map(|&(_, _, name)| name.to_string())
        .collect();
    let known_end = FIELDS.last().map_or(0, |f| f.1);
    if k.feature_size > known_end.max(size) {
        lost.push(format!(
            "bytes {}..{} (fields after slice_ctrl)",
            known_end.max(size),
            k.feature_size
        ));
    }
    lost.join(", ")
}

/// The `kernel-feature-size` findings of the thread-local definitions in `defs`.
pub(super) fn kernel_diagnostics(defs: &[Def], k: KernelRseq) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let required_align = k.align.max(ORIG_RSEQ_SIZE);
    for d in defs.iter().filter(|d| d.def.kind == SymbolKind::Tls) {
        let (size, module) = (d.def.size, &d.def.module);
        let align = d.def.align.unwrap_or(0);
        if size > ORIG_RSEQ_SIZE && align < required_align {
            let mut diag = Diagnostic::new(
                Code::KernelFeatureSize,
                format!(
                    "{module}'s {RSEQ_ABI} is {size} bytes but only {align}-byte aligned: the kernel requires {required_align}-byte alignment (AT_RSEQ_ALIGN) of a registration longer than 32 bytes, so registering its {size} bytes fails (EINVAL)"
                ),
            );
            diag.severity = Severity::Error;
            out.push(diag);
        } else if size >= ORIG_RSEQ_SIZE && size < k.feature_size {
            out.push(Diagnostic::new(
                Code::KernelFeatureSize,
                format!(
                    "{module}'s {RSEQ_ABI} is {size} bytes, {align}-byte aligned; the kernel fills {} bytes (AT_RSEQ_FEATURE_SIZE) and asks {required_align}-byte alignment of a longer area: registered with {size} bytes, it loses {}",
                    k.feature_size,
                    lost_fields(size, k)
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{lost_fields, KernelRseq};

    #[test]
    fn lost_fields_by_kernel() {
        let linux_7_0 = KernelRseq {
            feature_size: 33,
            align: 64,
        };
        assert_eq!(
            lost_fields(32, linux_7_0),
            "bytes 32..33 (fields after slice_ctrl)"
        );
        let future = KernelRseq {
            feature_size: 96,
            align: 64,
        };
        assert_eq!(
            lost_fields(64, future),
            "bytes 64..96 (fields after slice_ctrl)"
        );
        let odd = KernelRseq {
            feature_size: 33,
            align: 32,
        };
        assert_eq!(
            lost_fields(28, odd),
            "slice_ctrl, bytes 32..33 (fields after slice_ctrl)"
        );
    }
}
