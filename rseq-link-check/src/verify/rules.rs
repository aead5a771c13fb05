//! The rules every critical section must follow, checked on one descriptor at a time:
//! the descriptor fields, where start, commit and abort lie, the abort signature, and the
//! instructions between start_ip and post_commit_ip.

use super::decode::{Disassembler, Flow, Insn};
use super::descriptor::Descriptor;
use super::finding::{Code, Finding};
use super::image::{signature, Image, Machine};

/// The `ud1` opcode and ModRM bytes (`0f b9 3d`) that precede the x86 signature.
pub const X86_UD1_PREFIX: [u8; 3] = [0x0f, 0xb9, 0x3d];

/// Most instructions a section may hold before decoding stops (a section longer than
/// this is not a critical section anyone could review).
pub const MAX_SECTION_INSNS: usize = 4096;

/// The checked instructions of one section, for the listing.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Instructions from start_ip up to (at most) post_commit_ip.
    pub insns: Vec<Insn>,
}

/// `name+off` text for an address, or the bare address.
fn at(image: &Image<'_>, addr: u64) -> String {
    match image.describe(addr) {
        Some(d) => format!("{addr:#x} <{d}>"),
        None => format!("{addr:#x}"),
    }
}

/// Checks the descriptor fields (alignment, version, flags).
pub fn check_descriptor(d: &Descriptor, out: &mut Vec<Finding>) {
    if !d
        .addr
        .is_multiple_of(core::mem::align_of::<rseq_abi::abi::RseqCs>() as u64)
    {
        out.push(Finding::new(
            Code::CsMisaligned,
            Some(d.addr),
            format!("descriptor at {:#x} is not 32-byte aligned", d.addr),
        ));
    }
    if d.version != rseq_abi::abi::RSEQ_CS_VERSION {
        out.push(Finding::new(
            Code::CsBadVersion,
            Some(d.addr),
            format!(
                "descriptor at {:#x} has version {}, not 0",
                d.addr, d.version
            ),
        ));
    }
    // The deprecated bits are exactly what this check looks for.
    #[allow(deprecated)]
    use rseq_abi::abi::{
        RSEQ_CS_FLAG_NO_RESTART_ON_MIGRATE, RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT,
        RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL,
    };
    #[allow(deprecated)]
    const DEPRECATED: u32 = RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT
        | RSEQ_CS_FLAG_NO_RESTART_ON_SIGNAL
        | RSEQ_CS_FLAG_NO_RESTART_ON_MIGRATE;
    if d.flags & DEPRECATED != 0 {
        out.push(Finding::new(
            Code::CsDeprecatedFlags,
            Some(d.addr),
            format!(
                "descriptor at {:#x} has flags {:#x}: RSEQ_CS_FLAG_NO_RESTART_ON_* bits are rejected since Linux 6.0",
                d.addr, d.flags
            ),
        ));
    }
    if d.flags & !DEPRECATED != 0 {
        out.push(Finding::new(
            Code::CsUnknownFlags,
            Some(d.addr),
            format!(
                "descriptor at {:#x} has unknown flag bits {:#x}",
                d.addr,
                d.flags & !DEPRECATED
            ),
        ));
    }
}

/// Checks the placement of start, commit and abort and the abort signature. Returns
/// whether the range [start_ip, post_commit_ip) is sound enough to disassemble.
pub fn check_layout(image: &Image<'_>, d: &Descriptor, out: &mut Vec<Finding>) -> bool {
    let mut range_ok = true;
    let post = match d.post_commit_ip() {
        Some(p) if p > d.start_ip => Some(p),
        _ => {
            out.push(Finding::new(
                Code::CsEmpty,
                Some(d.start_ip),
                format!(
                    "start_ip {:#x} with post_commit_offset {:#x} gives an empty or wrapping section",
                    d.start_ip, d.post_commit_offset
                ),
            ));
            range_ok = false;
            None
        }
    };
    match image.region_of(d.start_ip) {
        Some(r) if r.executable => {
            if let Some(post) = post {
                if post > r.end() {
                    out.push(Finding::new(
                        Code::CsSpansSections,
                        Some(d.start_ip),
                        format!(
                            "section [{:#x}, {post:#x}) runs past the end of {} at {:#x}",
                            d.start_ip,
                            r.name,
                            r.end()
                        ),
                    ));
                    range_ok = false;
                }
            }
        }
        other => {
            out.push(Finding::new(
                Code::CsNotExecutable,
                Some(d.start_ip),
                format!(
                    "start_ip {:#x} is {}",
                    d.start_ip,
                    match other {
                        Some(r) => format!("in the non-executable section {}", r.name),
                        None => "outside every section with contents".to_string(),
                    }
                ),
            ));
            range_ok = false;
        }
    }

    let abort = d.abort_ip;
    match image.region_of(abort) {
        Some(r) if r.executable => {}
        other => out.push(Finding::new(
            Code::AbortNotExecutable,
            Some(abort),
            format!(
                "abort_ip {abort:#x} is {}",
                match other {
                    Some(r) => format!("in the non-executable section {}", r.name),
                    None => "outside every section with contents".to_string(),
                }
            ),
        )),
    }
    if let Some(post) = post {
        if abort >= d.start_ip && abort < post {
            out.push(Finding::new(
                Code::AbortInsideSection,
                Some(abort),
                format!(
                    "abort_ip {} lies inside the section [{:#x}, {post:#x})",
                    at(image, abort),
                    d.start_ip
                ),
            ));
        }
    }

    let sig = signature(image.arch).to_le_bytes();
    let before = abort.checked_sub(4).and_then(|a| image.bytes(a, 4));
    if before != Some(&sig[..]) {
        out.push(Finding::new(
            Code::AbortSignatureMissing,
            Some(abort),
            format!(
                "the 4 bytes before abort_ip {} are {}, not the signature {:#010x}",
                at(image, abort),
                match before {
                    Some(b) => format!("{:02x} {:02x} {:02x} {:02x}", b[0], b[1], b[2], b[3]),
                    None => "not in the file".to_string(),
                },
                signature(image.arch)
            ),
        ));
    } else if image.arch == Machine::X86_64 {
        let prefix = abort.checked_sub(7).and_then(|a| image.bytes(a, 3));
        if prefix != Some(&X86_UD1_PREFIX[..]) {
            out.push(Finding::new(
                Code::AbortSignatureNotUd1,
                Some(abort),
                format!(
                    "the signature before abort_ip {} is not preceded by the ud1 bytes 0f b9 3d",
                    at(image, abort)
                ),
            ));
        }
    }
    range_ok
}

/// Disassembles [start_ip, post_commit_ip) and checks every instruction. `exits` are the
/// declared exit addresses of this section.
pub fn check_instructions(
    image: &Image<'_>,
    dis: &mut Disassembler,
    d: &Descriptor,
    exits: &[u64],
    out: &mut Vec<Finding>,
) -> Decoded {
    let mut decoded = Decoded::default();
    let Some(post) = d.post_commit_ip() else {
        return decoded;
    };
    let Some(region) = image.region_of(d.start_ip) else {
        return decoded;
    };
    // The abort handler usually is a trampoline (`jmp handler` right after the signature);
    // branching straight to its destination is the same as branching to abort_ip.
    let abort_target = image
        .region_of(d.abort_ip)
        .and_then(|r| {
            let off = usize::try_from(d.abort_ip - r.addr).ok()?;
            dis.decode(r.data.get(off..)?, d.abort_ip)
        })
        .and_then(|i| match i.flow {
            Flow::Jump(t) => Some(t),
            _ => None,
        });
    let allowed = Allowed {
        abort_ip: d.abort_ip,
        abort_target,
        exits,
    };
    let mut addr = d.start_ip;
    while addr < post && decoded.insns.len() < MAX_SECTION_INSNS {
        let off = (addr - region.addr) as usize;
        let bytes = region.data.get(off..).unwrap_or(&[]);
        let Some(insn) = dis.decode(bytes, addr) else {
            out.push(Finding::new(
                Code::UndecodableInstruction,
                Some(addr),
                format!(
                    "bytes at {} do not decode as an instruction",
                    at(image, addr)
                ),
            ));
            return decoded;
        };
        check_one(image, d, post, &allowed, &insn, out);
        addr = insn.end();
        decoded.insns.push(insn);
    }
    let Some(last) = decoded.insns.last() else {
        return decoded;
    };
    if last.end() != post {
        out.push(Finding::new(
            Code::CommitNotAtInstructionEnd,
            Some(last.addr),
            format!(
                "post_commit_ip {post:#x} falls inside the instruction `{}` at {} (which ends at {:#x})",
                last.text,
                at(image, last.addr),
                last.end()
            ),
        ));
        return decoded;
    }
    if !last.is_store {
        out.push(Finding::new(
            Code::CommitNotStore,
            Some(last.addr),
            format!(
                "the last instruction `{}` at {} is not a store, so it cannot be the commit",
                last.text,
                at(image, last.addr)
            ),
        ));
    }
    let n = decoded.insns.len();
    for insn in &decoded.insns[..n - 1] {
        if insn.is_store {
            out.push(Finding::new(
                Code::SpeculativeStore,
                Some(insn.addr),
                format!(
                    "store `{}` at {} before the commit is not undone on abort",
                    insn.text,
                    at(image, insn.addr)
                ),
            ));
        }
    }
    decoded
}

/// Where a branch inside a section may go besides the section itself.
struct Allowed<'a> {
    abort_ip: u64,
    abort_target: Option<u64>,
    exits: &'a [u64],
}

impl Allowed<'_> {
    fn contains(&self, target: u64) -> bool {
        target == self.abort_ip || Some(target) == self.abort_target || self.exits.contains(&target)
    }
}

fn check_one(
    image: &Image<'_>,
    d: &Descriptor,
    post: u64,
    allowed: &Allowed<'_>,
    insn: &Insn,
    out: &mut Vec<Finding>,
) {
    let here = || at(image, insn.addr);
    let text = &insn.text;
    match insn.flow {
        Flow::Call => out.push(Finding::new(
            Code::CallInSection,
            Some(insn.addr),
            format!("call `{text}` at {}", here()),
        )),
        Flow::Syscall => out.push(Finding::new(
            Code::SyscallInSection,
            Some(insn.addr),
            format!("system call `{text}` at {}", here()),
        )),
        Flow::Return => out.push(Finding::new(
            Code::ReturnInSection,
            Some(insn.addr),
            format!("return `{text}` at {}", here()),
        )),
        Flow::Trap => out.push(Finding::new(
            Code::PrivilegedInSection,
            Some(insn.addr),
            format!("trapping instruction `{text}` at {}", here()),
        )),
        Flow::IndirectJump => out.push(Finding::new(
            Code::IndirectBranch,
            Some(insn.addr),
            format!("indirect branch `{text}` at {}", here()),
        )),
        Flow::Jump(target) | Flow::CondJump(target) => {
            let inside = target >= d.start_ip && target < post;
            if !inside && !allowed.contains(target) {
                let unresolved = (insn.addr..insn.end())
                    .find_map(|a| image.unresolved.get(&a))
                    .map(|name| format!(" (the unresolved symbol `{name}`)"))
                    .unwrap_or_default();
                out.push(Finding::new(
                    Code::BranchOutOfSection,
                    Some(insn.addr),
                    format!(
                        "branch `{text}` at {} goes to {}{unresolved}, which is neither inside [{:#x}, {post:#x}), abort_ip {:#x}, nor a declared exit",
                        here(),
                        at(image, target),
                        d.start_ip,
                        d.abort_ip
                    ),
                ));
            }
        }
        Flow::Next => {}
    }
    if insn.stack_op && !matches!(insn.flow, Flow::Call | Flow::Return) {
        out.push(Finding::new(
            Code::StackOpInSection,
            Some(insn.addr),
            format!("stack-pointer instruction `{text}` at {}", here()),
        ));
    }
    if insn.privileged {
        out.push(Finding::new(
            Code::PrivilegedInSection,
            Some(insn.addr),
            format!("privileged instruction `{text}` at {}", here()),
        ));
    }
}
