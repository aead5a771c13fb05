//! The linker wrapper: stands in for `cc` as the linker of a Rust build
//! (`linker = "rseq-link-wrapper"` in `.cargo/config.toml`, or `-C linker=`).
//!
//! It receives rustc's link line, predicts the static link, runs the real linker (`cc`, or
//! `$RSEQ_LINK_CHECK_LINKER`) with the same arguments, then runs the loader model over the
//! produced file (with the link's `-L` directories as `LD_LIBRARY_PATH`). Findings at error
//! severity (after the [`Policy`]) fail the link: the report says which module provides
//! `__rseq_abi`, its size, who binds where, and the fix, and the output file is removed.
//! A clean link is transparent: same output, same exit status, and nothing printed except
//! one summary line when `RSEQ_LINK_CHECK_SUMMARY=1`. `RSEQ_LINK_CHECK_WRAPPER=off` makes
//! it run the linker and nothing else (changing the configured linker makes Cargo rebuild
//! every crate; the variable does not).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::link::args::LinkLine;
use crate::link::policy::Policy;
use crate::link::prediction::{predict, PredictOptions};
use crate::link::report::LinkReport;
use crate::link::search::SearchConfig;
use crate::render::{emit, Format, RenderOptions};

/// The environment variable naming the real linker (default `cc`).
pub const LINKER_ENV: &str = "RSEQ_LINK_CHECK_LINKER";
/// The environment variable asking for one summary line on a clean link (`1`).
pub const SUMMARY_ENV: &str = "RSEQ_LINK_CHECK_SUMMARY";
/// The environment variable asking for the full report as JSON on stderr (`json`).
pub const FORMAT_ENV: &str = "RSEQ_LINK_CHECK_FORMAT";
/// The environment variable that turns the checks off (`off`): the wrapper only runs the
/// linker.
pub const BYPASS_ENV: &str = "RSEQ_LINK_CHECK_WRAPPER";

/// Runs the wrapper on `args` (without the program name); returns the exit status.
pub fn run(args: Vec<OsString>) -> i32 {
    let linker = std::env::var(LINKER_ENV).unwrap_or_else(|_| "cc".to_string());
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    if std::env::var(BYPASS_ENV).is_ok_and(|v| v == "off") {
        return match Command::new(&linker).args(&args).status() {
            Ok(s) => s.code().unwrap_or(1),
            Err(e) => {
                let _ = writeln!(err, "rseq-link-wrapper: error: cannot run the linker `{linker}`: {e} (set {LINKER_ENV})");
                2
            }
        };
    }
    let policy = match Policy::from_env() {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "rseq-link-wrapper: error: {e}");
            return 2;
        }
    };
    // The prediction first: it names the inputs when the real linker then fails.
    let strings: Option<Vec<String>> = args.iter().map(|a| a.to_str().map(String::from)).collect();
    let line = strings.as_ref().map(|s| LinkLine::parse(s));
    let prediction = match &line {
        Some(Ok(line)) => {
            let opts = PredictOptions {
                search: SearchConfig::from_compiler(&linker),
                ..PredictOptions::default()
            };
            Some(predict(line, &opts))
        }
        _ => None,
    };
    let status = match Command::new(&linker).args(&args).status() {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(err, "rseq-link-wrapper: error: cannot run the linker `{linker}`: {e} (set {LINKER_ENV})");
            return 2;
        }
    };
    let code = status.code().unwrap_or(1);
    let (line, prediction) = match (line, prediction) {
        (Some(Ok(l)), Some(Ok(p))) => (l, p),
        (Some(Err(e)), _) | (_, Some(Err(e))) => {
            let _ = writeln!(
                err,
                "rseq-link-wrapper: warning: link line not analysed: {e}"
            );
            return code;
        }
        _ => {
            let _ = writeln!(
                err,
                "rseq-link-wrapper: warning: link line not analysed: an argument is not UTF-8"
            );
            return code;
        }
    };
    if !status.success() {
        // The linker said why; add what the prediction knows about the symbol.
        if !prediction.rejections.is_empty() {
            let report = LinkReport::from_prediction(prediction, &policy);
            let _ = emit(&report, Format::Human, &RenderOptions::default(), &mut err);
        }
        return code;
    }
    let output = line
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("a.out"));
    let mut library_path: Vec<String> = line
        .search_dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    for item in &line.items {
        if let crate::link::args::LinkItem::File(f) = item {
            if is_shared_name(f) {
                if let Some(dir) = f.parent().filter(|d| !d.as_os_str().is_empty()) {
                    library_path.push(dir.display().to_string());
                }
            }
        }
    }
    let report = match LinkReport::with_output(prediction, &output, library_path, &policy) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                err,
                "rseq-link-wrapper: warning: {}: not analysed: {e}",
                output.display()
            );
            return code;
        }
    };
    let json = std::env::var(FORMAT_ENV).is_ok_and(|v| v == "json");
    if report.has_errors() {
        let _ = writeln!(
            err,
            "rseq-link-wrapper: error: the link of {} resolves {} unsafely; what the final link resolved:",
            output.display(),
            report.prediction.symbol
        );
        let _ = emit(
            &report,
            if json { Format::Json } else { Format::Human },
            &RenderOptions::default(),
            &mut err,
        );
        let _ = std::fs::remove_file(&output);
        return 1;
    }
    if json {
        let _ = emit(&report, Format::Json, &RenderOptions::default(), &mut err);
    } else if std::env::var(SUMMARY_ENV).is_ok_and(|v| v == "1") {
        let _ = writeln!(err, "{}", crate::render::human::link::summary_line(&report));
    }
    code
}

fn is_shared_name(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".so") || n.contains(".so."))
}
