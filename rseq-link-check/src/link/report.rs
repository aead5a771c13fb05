//! The build-time report: the static prediction, and once the output file exists, what the
//! loader model makes of it (the run-time winner and every module's binding), with all
//! findings after the [`Policy`]. Rendered by the same renderers as the CLI's reports
//! ([`crate::render::human::link`]).

use std::path::Path;

use serde::Serialize;

use super::policy::Policy;
use super::prediction::LinkPrediction;
use crate::diag::Diagnostic;
use crate::error::ExitStatus;
use crate::loader::Options;
use crate::report::{Outcome, ResolveReport};

/// What a link resolved, statically and at run time.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LinkReport {
    /// The static link prediction.
    pub prediction: LinkPrediction,
    /// The loader model over the produced file (with the link's library directories as
    /// `LD_LIBRARY_PATH`), when there is one.
    pub resolved: Option<ResolveReport>,
    /// Every finding (prediction and loader model), after the policy.
    pub diagnostics: Vec<Diagnostic>,
}

impl LinkReport {
    /// Builds the report from a prediction alone (no output file to look at).
    pub fn from_prediction(prediction: LinkPrediction, policy: &Policy) -> LinkReport {
        let diagnostics = policy.apply(prediction.diagnostics.clone());
        LinkReport {
            prediction,
            resolved: None,
            diagnostics,
        }
    }

    /// Runs the loader model over `output` (the produced executable or library) and merges
    /// its findings with the prediction's.
    pub fn with_output(
        prediction: LinkPrediction,
        output: &Path,
        library_path: Vec<String>,
        policy: &Policy,
    ) -> crate::Result<LinkReport> {
        let opts = Options {
            library_path,
            ..Options::default()
        };
        let p = crate::analysis::load(output, &opts)?;
        let resolved = crate::analysis::resolve(&p, &prediction.symbol);
        let check = crate::analysis::check(&p);
        let mut all = prediction.diagnostics.clone();
        for d in check
            .diagnostics
            .into_iter()
            .chain(resolved.diagnostics.iter().cloned())
        {
            if !all
                .iter()
                .any(|e| e.code == d.code && e.message == d.message)
            {
                all.push(d);
            }
        }
        Ok(LinkReport {
            prediction,
            resolved: Some(resolved),
            diagnostics: policy.apply(all),
        })
    }

    /// True when a finding has error severity.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

impl Outcome for LinkPrediction {
    fn exit_status(&self) -> ExitStatus {
        if self.has_errors() {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}

impl Outcome for LinkReport {
    fn exit_status(&self) -> ExitStatus {
        if self.has_errors() {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }
}

/// The outcome of a build-script check.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct BuildReport {
    /// The target's C library, when found.
    pub libc: Option<super::libc::TargetLibc>,
    /// The trial link: prediction, loader model, findings after the policy.
    pub link: LinkReport,
    /// The linker's error output when the trial link failed.
    pub link_error: Option<String>,
}

impl BuildReport {
    /// True when a finding has error severity.
    pub fn has_errors(&self) -> bool {
        self.link.has_errors()
    }
}

impl crate::report::Outcome for BuildReport {
    fn exit_status(&self) -> crate::ExitStatus {
        self.link.exit_status()
    }
}
