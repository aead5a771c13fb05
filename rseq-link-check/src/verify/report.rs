//! The result of verifying one file: a value that renderers (human text, JSON) turn
//! into output, and that decides the exit status.

use serde::Serialize;

use super::descriptor::{Descriptor, ExitPoint};
use super::finding::{Finding, Severity};
use super::image::{FileType, Machine};

/// The verdict on one critical section.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SectionReport {
    /// The descriptor as read from the file.
    pub descriptor: Descriptor,
    /// `start_ip + post_commit_offset`, absent when it wraps.
    pub post_commit_ip: Option<u64>,
    /// The function holding start_ip (demangled), where the file has symbols.
    pub function: Option<String>,
    /// The function the section was written in (`#[rseq_critical]` records it beside the
    /// descriptor), also when that function was inlined into `function`.
    pub source_function: Option<String>,
    /// Declared exit addresses of this section.
    pub exits: Vec<u64>,
    /// Instructions decoded between start_ip and post_commit_ip.
    pub instructions: usize,
    /// What is wrong or worth a reviewer's eye.
    pub findings: Vec<Finding>,
}

impl SectionReport {
    /// The function a reader looks for: the source function, with the function it was
    /// inlined into when that differs (`source (inlined into f)`), else the symbol's name.
    pub fn function_text(&self) -> Option<String> {
        match (&self.source_function, &self.function) {
            (Some(s), Some(f)) if s != f => Some(format!("{s} (inlined into {f})")),
            (Some(s), _) => Some(s.clone()),
            (None, f) => f.clone(),
        }
    }

    /// Whether the source function or the enclosing function contains `pattern`.
    pub fn function_matches(&self, pattern: &str) -> bool {
        [&self.source_function, &self.function]
            .iter()
            .any(|f| f.as_deref().is_some_and(|f| f.contains(pattern)))
    }

    /// Whether the section has no error or warning (notes are fine).
    pub fn is_clean(&self) -> bool {
        self.findings.iter().all(|f| f.severity == Severity::Info)
    }
}

/// The result of verifying one file.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The input file as given.
    pub path: String,
    /// Its architecture.
    pub arch: Machine,
    /// Its ELF type.
    pub kind: FileType,
    /// One entry per critical section, ordered by descriptor address.
    pub sections: Vec<SectionReport>,
    /// Declared exits, as read from `__rseq_exit_point_array`.
    pub exit_points: Vec<ExitPoint>,
    /// Findings about the file's arrays rather than one section.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// Every finding, file-level first.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .chain(self.sections.iter().flat_map(|s| s.findings.iter()))
    }

    /// How many findings have severity `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.all_findings()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether nothing of severity warning or above was found.
    pub fn is_clean(&self) -> bool {
        self.all_findings().all(|f| f.severity == Severity::Info)
    }

    /// The process exit status: 0 clean, 1 findings.
    pub fn exit_code(&self) -> i32 {
        if self.is_clean() {
            0
        } else {
            1
        }
    }
}

impl crate::report::Outcome for VerifyReport {
    fn exit_status(&self) -> crate::ExitStatus {
        if self.is_clean() {
            crate::ExitStatus::Clean
        } else {
            crate::ExitStatus::Findings
        }
    }
}
