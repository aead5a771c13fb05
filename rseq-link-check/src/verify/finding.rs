//! Findings of the verifier: a code of the crate's catalog ([`crate::diag::VerifyCode`],
//! here `Code`) and a message that names the section by address (and function, where
//! symbols exist).

use serde::Serialize;

use crate::diag::Diagnostic;

pub use crate::diag::Severity;

pub use crate::diag::VerifyCode as Code;

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
