//! The `explain` report: one code of the diagnostics catalog in its long form, or the whole
//! catalog as a table, built from [`crate::diag`] and rendered like every other report.

use serde::Serialize;

use crate::diag::{Catalog, Code, Severity};
use crate::error::Error;

/// Everything the catalog says about one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// The stable kebab-case name.
    pub code: Code,
    /// The analysis that reports it.
    pub catalog: Catalog,
    /// The severity its findings carry.
    pub severity: Severity,
    /// One line saying what it means.
    pub summary: &'static str,
    /// The default fix hint.
    pub hint: &'static str,
    /// The long explanation.
    pub explanation: &'static str,
}

impl Explanation {
    /// The catalog's entry for `code`.
    pub fn of(code: Code) -> Self {
        Explanation {
            code,
            catalog: code.catalog(),
            severity: code.severity(),
            summary: code.summary(),
            hint: code.hint(),
            explanation: code.explain(),
        }
    }
}

/// The answer of `explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ExplainReport {
    /// One code, in its long form.
    One(Explanation),
    /// Every code, in catalog order.
    Catalog {
        /// The entries.
        codes: Vec<Explanation>,
    },
}

/// The long form of the code named `name`, or the whole catalog when `name` is `None`.
/// An unknown name is a usage error.
pub fn explain(name: Option<&str>) -> Result<ExplainReport, Error> {
    match name {
        Some(name) => {
            let code = Code::from_name(name).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown diagnostic code `{name}` (run `rseq-link-check explain` for the list)"
                ))
            })?;
            Ok(ExplainReport::One(Explanation::of(code)))
        }
        None => Ok(ExplainReport::Catalog {
            codes: Code::all().map(Explanation::of).collect(),
        }),
    }
}
