//! Findings of the verifier: a stable kebab-case code per rule, its severity, and a
//! message that names the section by address (and function, where symbols exist).

use serde::Serialize;

/// How serious a finding is. Errors and warnings make `verify` exit with status 1; notes
/// are information for reviewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Information for a reviewer; not a defect.
    Note,
    /// Likely a defect, or metadata tools rely on is missing.
    Warning,
    /// The kernel would kill the thread or the section can lose or corrupt data.
    Error,
}

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal, $sev:ident, $explain:literal; )*) => {
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
        "struct rseq_cs must be 32-byte aligned; the kernel rejects a misaligned descriptor and kills the thread with SIGSEGV. Put `.balign 32` before the descriptor in `__rseq_cs`.";
    /// The descriptor's version is not 0.
    CsBadVersion = "rseq-cs-bad-version", Error,
        "rseq_cs.version must be 0; the kernel rejects any other version and kills the thread with SIGSEGV.";
    /// The descriptor carries a deprecated RSEQ_CS_FLAG_NO_RESTART_ON_* flag.
    CsDeprecatedFlags = "rseq-cs-deprecated-flags", Error,
        "rseq_cs.flags carries RSEQ_CS_FLAG_NO_RESTART_ON_PREEMPT/SIGNAL/MIGRATE; kernels since 6.0 reject these and kill the thread with SIGSEGV. Set flags to 0.";
    /// The descriptor carries unknown flag bits.
    CsUnknownFlags = "rseq-cs-unknown-flags", Error,
        "rseq_cs.flags has bits the kernel does not define; it must be 0.";
    /// start_ip >= post_commit_ip (empty or wrapping section).
    CsEmpty = "rseq-cs-empty", Error,
        "post_commit_offset must be positive and start_ip + post_commit_offset must not wrap: the section [start_ip, post_commit_ip) is empty or reversed.";
    /// start_ip is not in an executable section.
    CsNotExecutable = "rseq-cs-not-executable", Error,
        "start_ip must point into executable code (a section with SHF_EXECINSTR).";
    /// The section runs past the end of the executable section holding start_ip.
    CsSpansSections = "rseq-cs-spans-sections", Error,
        "start_ip and post_commit_ip must lie in one executable section; the section runs past its end.";
    /// abort_ip is not in an executable section.
    AbortNotExecutable = "rseq-abort-not-executable", Error,
        "abort_ip must point into executable code; the kernel would move the thread to a non-executable address.";
    /// abort_ip lies inside [start_ip, post_commit_ip).
    AbortInsideSection = "rseq-abort-inside-section", Error,
        "abort_ip must be outside [start_ip, post_commit_ip); the kernel rejects an abort handler inside the section and kills the thread with SIGSEGV.";
    /// The four bytes before abort_ip are not the signature.
    AbortSignatureMissing = "rseq-abort-signature-missing", Error,
        "The four bytes before abort_ip must equal the signature registered with rseq(2) (0x53053053 on x86, 0xd428bc00 on aarch64); otherwise the kernel kills the thread with SIGSEGV on abort.";
    /// On x86 the signature is not in the `ud1` form.
    AbortSignatureNotUd1 = "rseq-abort-signature-not-ud1", Warning,
        "On x86 the signature should be the immediate of `ud1 0x53053053(%rip), %edi` (bytes 0f b9 3d before it), so that a stray jump into the signature traps instead of executing data.";
    /// A call inside the section.
    CallInSection = "rseq-call-in-section", Error,
        "A call inside a critical section leaves it: the callee runs with rseq_cs set but outside [start_ip, post_commit_ip), so preemption there is not detected and the commit may act on stale data. Inline the callee or move the call out.";
    /// A system call or software interrupt inside the section.
    SyscallInSection = "rseq-syscall-in-section", Error,
        "A system call inside a critical section is forbidden (the kernel kills the thread with SIGSEGV when built with CONFIG_DEBUG_RSEQ, and the section can be aborted by the call itself).";
    /// A return inside the section.
    ReturnInSection = "rseq-return-in-section", Error,
        "A return inside a critical section leaves it without committing; leave through a declared exit point instead.";
    /// A push, pop or other stack-pointer change inside the section.
    StackOpInSection = "rseq-stack-op-in-section", Error,
        "Changing the stack pointer inside a critical section (push, pop, sp arithmetic) is not undone on abort: the abort handler would run with a different stack pointer.";
    /// A privileged or system instruction inside the section.
    PrivilegedInSection = "rseq-privileged-in-section", Error,
        "Privileged, system-register or trapping instructions do not belong in a critical section.";
    /// A branch to an address that is neither inside, abort_ip nor a declared exit.
    BranchOutOfSection = "rseq-branch-out-of-section", Error,
        "Every branch inside a critical section must go inside the section, to abort_ip (or to where the abort handler at abort_ip jumps, which is the same), or to an exit point declared in __rseq_exit_point_array. Declare the exit, or fix the target.";
    /// A branch whose target is in a register or memory.
    IndirectBranch = "rseq-indirect-branch", Error,
        "An indirect branch inside a critical section cannot be checked to stay inside it or go to a declared exit.";
    /// The bytes do not decode as instructions.
    UndecodableInstruction = "rseq-undecodable-instruction", Error,
        "Bytes inside the section do not decode as an instruction of the file's architecture.";
    /// post_commit_ip falls inside an instruction.
    CommitNotAtInstructionEnd = "rseq-commit-not-at-instruction-end", Error,
        "post_commit_ip must be the end of the commit instruction; it falls inside an instruction, so the commit's completion is not what the kernel sees as the end of the section.";
    /// The last instruction is not a store.
    CommitNotStore = "rseq-commit-not-store", Error,
        "The last instruction of a critical section must be the single store that commits it; here it is not a store, so what follows post_commit_ip runs unprotected.";
    /// A store before the commit.
    SpeculativeStore = "rseq-speculative-store", Note,
        "A store before the commit is not undone on abort: it must be speculative (only to memory nobody else reads before the commit). Listed for review.";
    /// A descriptor in __rseq_cs that __rseq_cs_ptr_array does not list.
    CsNotInPtrArray = "rseq-cs-not-in-ptr-array", Warning,
        "Every descriptor should be listed in __rseq_cs_ptr_array, which debuggers and checkpoint/restore tools read to find critical sections.";
    /// A pointer-array entry that does not point to a readable descriptor.
    PtrArrayDangling = "rseq-ptr-array-dangling", Error,
        "An entry of __rseq_cs_ptr_array does not point to a 32-byte descriptor in the file.";
    /// An exit point whose start_ip matches no descriptor.
    ExitUnknownSection = "rseq-exit-unknown-section", Error,
        "Each __rseq_exit_point_array pair (start_ip, exit_ip) must name the start_ip of a critical section.";
    /// An exit point inside its section.
    ExitInsideSection = "rseq-exit-inside-section", Error,
        "A declared exit point must lie outside [start_ip, post_commit_ip) of its section.";
    /// A relocation against a symbol the file does not define.
    UnresolvedRelocation = "rseq-unresolved-relocation", Warning,
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

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule.
    pub code: Code,
    /// Its severity.
    pub severity: Severity,
    /// What is wrong, with addresses.
    pub message: String,
    /// The address the finding is about (an instruction, an array entry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<u64>,
}

impl Finding {
    /// The severity as a word (`error`, `warning`, `note`).
    pub fn severity_text(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }

    /// A finding with the code's severity.
    pub fn new(code: Code, address: Option<u64>, message: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.severity(),
            message: message.into(),
            address,
        }
    }
}
