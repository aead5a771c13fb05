//! Build time: predicting what the static link makes of a symbol (by default `__rseq_abi`),
//! the model that the build-script API (`crate::buildscript`) and the linker wrapper
//! (`crate::wrapper`) run.
//!
//! The pipeline is parse → resolve → outcome → diagnose:
//! [`LinkLine::parse`] reads the command line as rustc hands it to `cc`; [`resolve`] replays
//! symbol resolution with GNU ld's or lld's rules over the real input files; [`predict`]
//! turns the resolution into a [`LinkPrediction`] (which definition the output contains or
//! references, its size, binding and visibility, whether it lands in `.dynsym`, what
//! `--gc-sections` drops, what the other linker would do differently, what the linker
//! rejects) with build-time diagnostics from the shared catalog.

pub(crate) mod args;
pub(crate) mod failure;
mod gc;
mod input;
pub(crate) mod libc;
pub(crate) mod policy;
pub(crate) mod prediction;
pub(crate) mod report;
mod resolve;
pub(crate) mod search;
mod version_script;

pub use crate::error::{LinkError, UnknownCode};
pub use args::{
    driver_arguments, split_response_file, LinkItem, LinkLine, LinkerFlavor, OutputKind,
};
pub use input::{Binding, SymType, Visibility};
pub use libc::TargetLibc;
pub use policy::{Level, Policy};
pub use prediction::{
    predict, LinkPrediction, OtherLinker, OutcomeState, PredictOptions, SymbolOutcome,
};
pub use report::LinkReport;
pub use resolve::{resolve, Candidate, NeededLib, Rejection, RejectionKind, Resolution};
pub use search::SearchConfig;
pub use version_script::{glob_match, DynamicList, ScriptVerdict, SymbolPattern, VersionScript};

/// The `predict` command: parses `args` (a `cc` link line, bare or as `--print=link-args`
/// prints it: see [`driver_arguments`]), predicts the link of `symbol`
/// with the rules of `rules` (`bfd`/`lld`, default: the line's `-fuse-ld=`), searching the
/// library directories of the compiler `cc`; when the output file exists, adds the loader
/// model's view of it. The policy comes from the environment.
pub fn predict_command(
    args: &[String],
    symbol: &str,
    rules: Option<&str>,
    cc: &str,
) -> crate::Result<LinkReport> {
    let flavor = match rules {
        None => None,
        Some("bfd") | Some("gnu") | Some("ld") => Some(LinkerFlavor::GnuLd),
        Some("lld") => Some(LinkerFlavor::Lld),
        Some(other) => {
            return Err(crate::Error::Usage(format!(
                "unknown linker rules `{other}` (bfd or lld)"
            )))
        }
    };
    let policy = Policy::from_env()?;
    let line = LinkLine::parse(&driver_arguments(args))?;
    let opts = PredictOptions {
        symbol: symbol.to_string(),
        search: SearchConfig::from_compiler(cc),
        flavor,
    };
    let prediction = predict(&line, &opts)?;
    match line.output.as_deref().filter(|o| o.is_file()) {
        Some(out) => {
            let dirs = line
                .search_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            LinkReport::with_output(prediction, out, dirs, &policy)
        }
        None => Ok(LinkReport::from_prediction(prediction, &policy)),
    }
}
