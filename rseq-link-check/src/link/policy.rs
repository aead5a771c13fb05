//! What is an error at build time. A [`Policy`] raises or lowers the severity of catalog
//! codes, or silences them; the build script and the linker wrapper apply it to every
//! finding before deciding whether to fail.
//!
//! The default keeps the catalog's severities except one: `glibc-owns-registration` is a
//! warning at build time. The trial link stands in for the crate's code, so what it shows
//! about who registers or reads an area is partial; `deny` the code to make it an error.
//! (`rseq-abi`'s `legacy-rseq-abi` area, registered only when the C library does not,
//! gives no such finding at all.)
//!
//! The environment can override the code's choices: `RSEQ_LINK_CHECK_DENY`,
//! `RSEQ_LINK_CHECK_WARN` and `RSEQ_LINK_CHECK_ALLOW` hold comma-separated codes.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic, Severity};
use crate::error::UnknownCode;

/// What to do with findings of one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    /// Drop the finding.
    Allow,
    /// Report it as a warning.
    Warn,
    /// Report it as an error (fails the build or the link).
    Deny,
}

/// Per-code levels; codes not mentioned keep the catalog's severity.
#[derive(Debug, Clone)]
pub struct Policy {
    levels: BTreeMap<Code, Level>,
}

impl Default for Policy {
    fn default() -> Self {
        let mut levels = BTreeMap::new();
        levels.insert(Code::GlibcOwnsRegistration, Level::Warn);
        Policy { levels }
    }
}

impl Policy {
    /// The default policy with the environment's overrides applied.
    pub fn from_env() -> Result<Policy, UnknownCode> {
        let mut p = Policy::default();
        p.apply_env(|k| std::env::var(k).ok())?;
        Ok(p)
    }

    /// Applies `RSEQ_LINK_CHECK_{ALLOW,WARN,DENY}` read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), UnknownCode> {
        for (var, level) in [
            ("RSEQ_LINK_CHECK_ALLOW", Level::Allow),
            ("RSEQ_LINK_CHECK_WARN", Level::Warn),
            ("RSEQ_LINK_CHECK_DENY", Level::Deny),
        ] {
            if let Some(v) = get(var) {
                for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let code = Code::from_name(name).ok_or_else(|| UnknownCode(name.into()))?;
                    self.levels.insert(code, level);
                }
            }
        }
        Ok(())
    }

    /// Sets the level of `code`.
    pub fn set(&mut self, code: Code, level: Level) {
        self.levels.insert(code, level);
    }

    /// Applies the policy to findings: severities adjusted, allowed codes dropped.
    pub fn apply(&self, diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
        diags
            .into_iter()
            .filter_map(|mut d| {
                match self.levels.get(&d.code) {
                    Some(Level::Allow) => return None,
                    Some(Level::Warn) => d.severity = Severity::Warning,
                    Some(Level::Deny) => d.severity = Severity::Error,
                    None => {}
                }
                Some(d)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_unknown_codes() {
        let mut p = Policy::default();
        p.apply_env(|k| match k {
            "RSEQ_LINK_CHECK_DENY" => Some("glibc-owns-registration, link-size-mismatch".into()),
            "RSEQ_LINK_CHECK_ALLOW" => Some("linkers-disagree".into()),
            _ => None,
        })
        .unwrap();
        let out = p.apply(vec![
            Diagnostic::new(Code::GlibcOwnsRegistration, "a"),
            Diagnostic::new(Code::LinkSizeMismatch, "b"),
            Diagnostic::new(Code::LinkersDisagree, "c"),
        ]);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(Diagnostic::is_error));
        assert!(Policy::default()
            .apply_env(|_| Some("no-such-code".into()))
            .is_err());
        let d = Policy::default().apply(vec![Diagnostic::new(Code::GlibcOwnsRegistration, "a")]);
        assert_eq!(d[0].severity, Severity::Warning);
    }
}
