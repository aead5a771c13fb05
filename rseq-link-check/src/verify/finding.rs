//! Findings of the verifier: a stable kebab-case code per rule, its severity, and a
//! message that names the section by address (and function, where symbols exist).

use serde::Serialize;

use crate::diag::Diagnostic;

pub use crate::diag::Severity;

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal, $sev:ident, $summary:literal, $hint:literal, $explain:literal; )*) => {
        /// The stable code of each rule the verifier checks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Code {
            /// Every code, in catalog order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable kebab-case code.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The severity of findings with this code.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }

            /// One line saying what a finding of this code means.
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }

            /// How to fix a finding of this code.
            pub fn hint(self) -> &'static str {
                match self { $(Code::$variant => $hint,)* }
            }

            /// What the rule checks, why it matters, and how to fix a finding.
            pub fn explain(self) -> &'static str {
                match self { $(Code::$variant => $explain,)* }
            }

            /// The code with this name, if there is one.
            pub fn from_name(name: &str) -> Option<Code> {
                Code::ALL.iter().copied().find(|c| c.as_str() == name)
            }
        }
    };
}

codes! {
    /// The descriptor is not 32-byte aligned.
    CsMisaligned = "rseq-cs-misaligned", Error,
        "the descriptor is not 32-byte aligned",
        "put `.balign 32` before the descriptor in __rseq_cs",
        "struct rseq_cs must be 32-byte aligned; the kernel rejects a misaligned descriptor and kills the thread with SIGSEGV. Put `.balign 32` before the descriptor in `__rseq_cs`.";
    /// The descriptor's version is not 0.
    CsBadVersion = "rseq-cs-bad-version", Error,
        "the descriptor's version is not 0",
        "set rseq_cs.version to 0",
        "rseq_cs.version must be 0; the kernel rejects any other version and kills the thread with SIGSEGV.";
    /// The descriptor carries a deprecated RSEQ_CS_FLAG_NO_RESTART_ON_* flag.
    CsDeprecatedFlags = "rseq-cs-deprecated-flags", Error,
        "the descriptor carries a deprecated RSEQ_CS_FLAG_NO_RESTART_ON_* flag",
        "set rseq_cs.flags to 0",
        "rseq_cs.flags carries RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT/SIGNAL/MIGRATE; kernels since 6.0 reject these and kill the thread with SIGSEGV. Set flags to 0.";
    /// The descriptor carries unknown flag bits.
    CsUnknownFlags = "rseq-cs-unknown-flags", Error,
        "the descriptor carries undefined flag bits",
        "set rseq_cs.flags to 0",
        "rseq_cs.flags has bits the kernel does not define; it must be 0.";
    /// start_ip >= post_commit_ip (empty or wrapping section).
    CsEmpty = "rseq-cs-empty", Error,
        "start_ip + post_commit_offset is not after start_ip",
        "set post_commit_offset to the distance from the start to the end of the commit",
        "post_commit_offset must be positive and start_ip + post_commit_offset must not wrap: the section [start_ip, post_commit_ip) is empty or reversed.";
    /// start_ip is not in an executable section.
    CsNotExecutable = "rseq-cs-not-executable", Error,
        "start_ip is not in executable code",
        "point start_ip at the section's first instruction",
        "start_ip must point into executable code (a section with SHF_EXECINSTR).";
    /// The section runs past the end of the executable section holding start_ip.
    CsSpansSections = "rseq-cs-spans-sections", Error,
        "the section runs past the end of the code section holding start_ip",
        "make post_commit_offset end at the commit instruction",
        "start_ip and post_commit_ip must lie in one executable section; the section runs past its end.";
    /// abort_ip is not in an executable section.
    AbortNotExecutable = "rseq-abort-not-executable", Error,
        "abort_ip is not in executable code",
        "point abort_ip at the abort handler's first instruction",
        "abort_ip must point into executable code; the kernel would move the thread to a non-executable address.";
    /// abort_ip lies inside [start_ip, post_commit_ip).
    AbortInsideSection = "rseq-abort-inside-section", Error,
        "abort_ip lies inside the section",
        "place the abort handler (and its signature) outside [start_ip, post_commit_ip)",
        "abort_ip must be outside [start_ip, post_commit_ip); the kernel rejects an abort handler inside the section and kills the thread with SIGSEGV.";
    /// The four bytes before abort_ip are not the signature.
    AbortSignatureMissing = "rseq-abort-signature-missing", Error,
        "the 4 bytes before abort_ip are not the signature",
        "emit the signature (x86: `ud1 0x53053053(%rip), %edi`; aarch64: `.inst 0xd428bc00`) immediately before the abort handler",
        "The four bytes before abort_ip must equal the signature registered with rseq(2) (0x53053053 on x86, 0xd428bc00 on aarch64); otherwise the kernel kills the thread with SIGSEGV on abort.";
    /// On x86 the signature is not in the `ud1` form.
    AbortSignatureNotUd1 = "rseq-abort-signature-not-ud1", Warning,
        "the x86 signature is not the immediate of a ud1 instruction",
        "emit `.byte 0x0f, 0xb9, 0x3d` before `.long 0x53053053`",
        "On x86 the signature should be the immediate of `ud1 0x53053053(%rip), %edi` (bytes 0f b9 3d before it), so that a stray jump into the signature traps instead of executing data.";
    /// A call inside the section.
    CallInSection = "rseq-call-in-section", Error,
        "a call inside the section",
        "inline the callee or move the call before the section",
        "A call inside a critical section leaves it: the callee runs with rseq_cs set but outside [start_ip, post_commit_ip), so preemption there is not detected and the commit may act on stale data. Inline the callee or move the call out.";
    /// A system call or software interrupt inside the section.
    SyscallInSection = "rseq-syscall-in-section", Error,
        "a system call or software interrupt inside the section",
        "move the system call out of the section",
        "A system call inside a critical section is forbidden (the kernel kills the thread with SIGSEGV when built with CONFIG_DEBUG_RSEQ, and the section can be aborted by the call itself).";
    /// A return inside the section.
    ReturnInSection = "rseq-return-in-section", Error,
        "a return inside the section",
        "leave through a declared exit point",
        "A return inside a critical section leaves it without committing; leave through a declared exit point instead.";
    /// A push, pop or other stack-pointer change inside the section.
    StackOpInSection = "rseq-stack-op-in-section", Error,
        "a push, pop or stack-pointer change inside the section",
        "keep values in registers; adjust the stack before the section",
        "Changing the stack pointer inside a critical section (push, pop, sp arithmetic) is not undone on abort: the abort handler would run with a different stack pointer.";
    /// A privileged or system instruction inside the section.
    PrivilegedInSection = "rseq-privileged-in-section", Error,
        "a privileged, system or trapping instruction inside the section",
        "remove it from the section",
        "Privileged, system-register or trapping instructions do not belong in a critical section.";
    /// A branch to an address that is neither inside, abort_ip nor a declared exit.
    BranchOutOfSection = "rseq-branch-out-of-section", Error,
        "a branch leaves the section to an undeclared address",
        "declare the target in __rseq_exit_point_array, or branch to abort_ip",
        "Every branch inside a critical section must go inside the section, to abort_ip (or to where the abort handler at abort_ip jumps, which is the same), or to an exit point declared in __rseq_exit_point_array. Declare the exit, or fix the target.";
    /// A branch whose target is in a register or memory.
    IndirectBranch = "rseq-indirect-branch", Error,
        "an indirect branch inside the section",
        "use direct branches to declared exits",
        "An indirect branch inside a critical section cannot be checked to stay inside it or go to a declared exit.";
    /// The bytes do not decode as instructions.
    UndecodableInstruction = "rseq-undecodable-instruction", Error,
        "bytes inside the section do not decode",
        "check start_ip and post_commit_offset: data or a misplaced range is inside",
        "Bytes inside the section do not decode as an instruction of the file's architecture.";
    /// post_commit_ip falls inside an instruction.
    CommitNotAtInstructionEnd = "rseq-commit-not-at-instruction-end", Error,
        "post_commit_ip falls inside an instruction",
        "set post_commit_offset to end exactly after the commit store",
        "post_commit_ip must be the end of the commit instruction; it falls inside an instruction, so the commit's completion is not what the kernel sees as the end of the section.";
    /// The last instruction is not a store.
    CommitNotStore = "rseq-commit-not-store", Error,
        "the last instruction is not the committing store",
        "end the section with the single store that publishes the result",
        "The last instruction of a critical section must be the single store that commits it; here it is not a store, so what follows post_commit_ip runs unprotected.";
    /// A store before the commit.
    SpeculativeStore = "rseq-speculative-store", Info,
        "a store before the commit (listed for review)",
        "make sure it only writes memory nobody reads before the commit",
        "A store before the commit is not undone on abort: it must be speculative (only to memory nobody else reads before the commit). Listed for review.";
    /// A descriptor in __rseq_cs that __rseq_cs_ptr_array does not list.
    CsNotInPtrArray = "rseq-cs-not-in-ptr-array", Warning,
        "a descriptor is not listed in __rseq_cs_ptr_array",
        "add `.quad descriptor` to __rseq_cs_ptr_array",
        "Every descriptor should be listed in __rseq_cs_ptr_array, which debuggers and checkpoint/restore tools read to find critical sections.";
    /// A pointer-array entry that does not point to a readable descriptor.
    PtrArrayDangling = "rseq-ptr-array-dangling", Error,
        "a pointer-array entry points to no descriptor",
        "remove the entry or point it at the descriptor",
        "An entry of __rseq_cs_ptr_array does not point to a 32-byte descriptor in the file.";
    /// An exit point whose start_ip matches no descriptor.
    ExitUnknownSection = "rseq-exit-unknown-section", Error,
        "an exit point names a start_ip that starts no section",
        "use the section's start_ip as the first word of the pair",
        "Each __rseq_exit_point_array pair (start_ip, exit_ip) must name the start_ip of a critical section.";
    /// An exit point inside its section.
    ExitInsideSection = "rseq-exit-inside-section", Error,
        "a declared exit lies inside its section",
        "declare only targets outside [start_ip, post_commit_ip)",
        "A declared exit point must lie outside [start_ip, post_commit_ip) of its section.";
    /// A relocation against a symbol the file does not define.
    UnresolvedRelocation = "rseq-unresolved-relocation", Warning,
        "a descriptor or entry refers to a symbol the object does not define",
        "verify the linked executable or shared object",
        "A descriptor or branch refers to a symbol this object file does not define; it can only be checked after linking.";
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: a [`Diagnostic`] of the crate's catalog (its code is
/// [`crate::diag::Code::CriticalSection`]) and the address it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Severity, code, message and fix hint.
    #[serde(flatten)]
    pub diagnostic: Diagnostic,
    /// The address the finding is about (an instruction, a descriptor, an array entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u64>,
}

impl std::ops::Deref for Finding {
    type Target = Diagnostic;

    fn deref(&self) -> &Diagnostic {
        &self.diagnostic
    }
}

impl Finding {
    /// A finding of `code` with its severity and hint.
    pub fn new(code: Code, address: Option<u64>, message: impl Into<String>) -> Self {
        Finding {
            diagnostic: Diagnostic::new(crate::diag::Code::CriticalSection(code), message),
            address,
        }
    }

    /// The rule, as the verifier's own code.
    pub fn rule(&self) -> Option<Code> {
        match self.diagnostic.code {
            crate::diag::Code::CriticalSection(c) => Some(c),
            _ => None,
        }
    }

    /// The severity as a word (`error`, `warning`, `info`).
    pub fn severity_text(&self) -> String {
        self.diagnostic.severity.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_round_trip_through_the_crate_catalog() {
        let mut seen = std::collections::BTreeSet::new();
        for &c in Code::ALL {
            let name = c.as_str();
            assert!(name.starts_with("rseq-"), "{name}");
            assert!(name
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'));
            assert!(seen.insert(name), "duplicate {name}");
            assert_eq!(Code::from_name(name), Some(c));
            let diag = crate::diag::Code::from_name(name).expect("in the crate catalog");
            assert_eq!(diag, crate::diag::Code::CriticalSection(c));
            assert_eq!(serde_json::to_string(&diag).unwrap(), format!("\"{name}\""));
            assert!(!c.summary().is_empty() && !c.hint().is_empty() && !c.explain().is_empty());
        }
        // Only the review note is informational.
        let infos: Vec<_> = Code::ALL
            .iter()
            .filter(|c| c.severity() == Severity::Info)
            .collect();
        assert_eq!(infos, [&Code::SpeculativeStore]);
    }
}
