//! `cargo rseq`: the Cargo subcommand (binary `cargo-rseq`) that builds a package and
//! analyses the linked artifacts it produced: `check`, `verify`, `asm FUNCTION`,
//! `asm --diff REV` and `inject`.
//!
//! It runs `cargo build --message-format=json-render-diagnostics` with the options given,
//! takes the artifacts from Cargo's `compiler-artifact` messages (executables: `bin` and
//! `example` targets; shared objects: `cdylib` and `dylib`; test harnesses only for
//! `inject --test`), and over each runs the loader model's `check` and the critical-section
//! verifier (`check`), the verifier alone (`verify`), or lists one function's sections
//! (`asm`). `asm --diff REV` builds the same targets again at a git revision, in a temporary
//! `git worktree`, and compares the sections; `inject` runs the one selected executable
//! under abort injection. Findings are printed the way rustc prints diagnostics, naming the
//! package and target; with `--json` (or `--message-format=json`) one JSON object per
//! artifact and a final one go to standard output, in the manner of Cargo's messages. The
//! exit status is 0 when clean, 1 on findings (loader findings at error severity, verifier
//! errors or warnings, a function matching nothing, changed sections), 2 when the build
//! failed or an artifact could not be analysed, 64 on a usage error.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::diag::{Diagnostic, Severity};
use crate::error::ExitStatus;
use crate::loader::Options;
use crate::render::{emit, ColorChoice, Format, Render, RenderOptions};
use crate::report::Outcome;

/// The usage text.
pub const USAGE: &str = "\
usage: cargo rseq check [--json] [cargo build options]
       cargo rseq verify [--json] [cargo build options]
       cargo rseq asm FUNCTION [--json] [cargo build options]
       cargo rseq asm [FUNCTION] --diff REV [--json] [cargo build options]
       cargo rseq inject [--test NAME | --bin NAME | --example NAME] [--json]
                         [cargo build options] [-- ARGS]

Builds with cargo, then analyses every bin, example, cdylib and dylib it produced:
  check    the loader model's rseq rules (rseq-link-check check) and every critical
           section (rseq-link-check verify)
  verify   every critical section
  asm      the annotated listing of FUNCTION's critical sections (names containing
           FUNCTION); with --diff REV, what changed since git revision REV (built in a
           temporary git worktree)
  inject   runs the selected executable (the only one built, or --test/--bin/--example
           NAME) with ARGS under abort injection (rseq-link-check inject)
--json (or --message-format=json) prints one JSON object per artifact and a final one to
standard output. Exit status: 0 clean, 1 findings (or changes, or no such function), 2 the
build failed or an artifact could not be analysed, 64 usage error.";

/// Why a `cargo rseq` command could not run to its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CargoRseqError {
    /// The command line is not usable.
    #[error("{0}")]
    Usage(String),
    /// `cargo build` (or `cargo metadata`) could not run or failed.
    #[error("{0}")]
    Build(String),
    /// A `git` command for `asm --diff` could not run or failed.
    #[error("git: {0}")]
    Git(String),
    /// A file could not be copied or a directory made.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An artifact could not be analysed.
    #[error(transparent)]
    Analysis(#[from] crate::Error),
}

impl CargoRseqError {
    /// The exit status this error calls for.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CargoRseqError::Usage(_) => ExitStatus::Usage,
            CargoRseqError::Analysis(e) => e.exit_status(),
            _ => ExitStatus::Unanalysable,
        }
    }
}

/// One linked file of the build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The package's name.
    pub package: String,
    /// The target's name.
    pub target: String,
    /// The target's kind (`bin`, `example`, `cdylib`, `dylib`).
    pub kind: String,
    /// The file.
    pub path: PathBuf,
}

/// The linked files named by one line of Cargo's JSON messages (none for other messages).
pub fn artifacts_of_message(line: &str) -> Vec<Artifact> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    // Test harnesses (`profile.test`) are not what the package ships.
    if v["reason"] != "compiler-artifact" || v["profile"]["test"] == true {
        return Vec::new();
    }
    let package = package_name(v["package_id"].as_str().unwrap_or(""));
    let target = v["target"]["name"].as_str().unwrap_or("").to_string();
    let kinds: Vec<&str> = v["target"]["kind"]
        .as_array()
        .map(|k| k.iter().filter_map(|k| k.as_str()).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let artifact = |kind: &str, path: &str| Artifact {
        package: package.clone(),
        target: target.clone(),
        kind: kind.to_string(),
        path: PathBuf::from(path),
    };
    if let Some(exe) = v["executable"].as_str() {
        if kinds.iter().any(|k| *k == "bin" || *k == "example") {
            let kind = if kinds.contains(&"example") {
                "example"
            } else {
                "bin"
            };
            out.push(artifact(kind, exe));
        }
    }
    if let Some(kind) = kinds.iter().find(|k| **k == "cdylib" || **k == "dylib") {
        for f in v["filenames"].as_array().into_iter().flatten() {
            if let Some(f) = f.as_str().filter(|f| f.ends_with(".so")) {
                out.push(artifact(kind, f));
            }
        }
    }
    out
}

/// The integration-test harness (`[[test]]` target, kind `test`) named by one line of
/// Cargo's JSON messages, for `inject --test`.
pub fn harness_of_message(line: &str) -> Option<Artifact> {
    let v = serde_json::from_str::<serde_json::Value>(line).ok()?;
    let is_test_target = v["target"]["kind"]
        .as_array()
        .is_some_and(|k| k.iter().any(|k| k == "test"));
    if v["reason"] != "compiler-artifact" || v["profile"]["test"] != true || !is_test_target {
        return None;
    }
    Some(Artifact {
        package: package_name(v["package_id"].as_str().unwrap_or("")),
        target: v["target"]["name"].as_str()?.to_string(),
        kind: "test".to_string(),
        path: PathBuf::from(v["executable"].as_str()?),
    })
}

/// The package name in a Cargo package id: `name 0.1.0 (source)` (older Cargo) or
/// `source#name@0.1.0` / `path+file:///dir/name#0.1.0` (the package id spec).
fn package_name(id: &str) -> String {
    if let Some((source, fragment)) = id.rsplit_once('#') {
        return match fragment.split_once('@') {
            Some((name, _)) => name.to_string(),
            None => source
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(source)
                .to_string(),
        };
    }
    id.split(' ').next().unwrap_or(id).to_string()
}

fn print_diagnostic(w: &mut dyn Write, d: &Diagnostic, a: &Artifact) -> std::io::Result<()> {
    writeln!(w, "{}[{}]: {}", d.severity, d.code.as_str(), d.message)?;
    writeln!(
        w,
        "  --> package `{}`, {} `{}`: {}",
        a.package,
        a.kind,
        a.target,
        a.path.display()
    )?;
    writeln!(w, "  = hint: {}", d.hint)
}

/// Checks one artifact; prints its findings to `w`. `Err` when it could not be analysed.
pub fn check_artifact(a: &Artifact, w: &mut dyn Write) -> crate::Result<ExitStatus> {
    Ok(check_artifact_report(a, w)?.0)
}

/// `check` of one artifact: prints its findings to `w` and returns the status and the
/// reports as JSON (`{"check": ..., "verify": ...}`).
fn check_artifact_report(
    a: &Artifact,
    w: &mut dyn Write,
) -> crate::Result<(ExitStatus, serde_json::Value)> {
    let p = crate::analysis::load(&a.path, &Options::default())?;
    let check = crate::analysis::check(&p);
    let verify = crate::verify::verify_file(&a.path)?;
    let mut status = ExitStatus::Clean;
    for d in &check.diagnostics {
        let _ = print_diagnostic(w, d, a);
    }
    if check.exit_status() == ExitStatus::Findings {
        status = ExitStatus::Findings;
    }
    print_verify_findings(&verify, a, w);
    if verify.exit_status() == ExitStatus::Findings {
        status = ExitStatus::Findings;
    }
    let json = serde_json::json!({ "check": to_json(&check), "verify": to_json(&verify) });
    Ok((status, json))
}

fn print_verify_findings(verify: &crate::verify::VerifyReport, a: &Artifact, w: &mut dyn Write) {
    for f in verify.all_findings() {
        if f.severity != Severity::Info {
            let _ = print_diagnostic(w, &f.diagnostic, a);
        }
    }
}

/// `report` as the JSON value `rseq-link-check --json` prints.
fn to_json<R: Render + ?Sized>(report: &R) -> serde_json::Value {
    let mut buf = Vec::new();
    let opts = RenderOptions::new(ColorChoice::Never, false);
    if emit(report, Format::Json, &opts, &mut buf).is_err() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null)
}

/// `report` in human form, as `rseq-link-check` prints it to standard output.
fn print_human<R: Render + ?Sized>(report: &R) {
    let stdout = std::io::stdout();
    let opts = RenderOptions::new(ColorChoice::Auto, stdout.is_terminal());
    let mut out = stdout.lock();
    let _ = emit(report, Format::Human, &opts, &mut out).and_then(|()| out.flush());
}

/// The subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Check,
    Verify,
    Asm {
        function: Option<String>,
        diff: Option<String>,
    },
    Inject {
        select: Option<(String, String)>,
        program_args: Vec<OsString>,
    },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Action::Check => "check",
            Action::Verify => "verify",
            Action::Asm { diff: None, .. } => "asm",
            Action::Asm { .. } => "asm-diff",
            Action::Inject { .. } => "inject",
        }
    }
}

/// A parsed command line: the subcommand, `--json`, and what goes to `cargo build`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Invocation {
    action: Action,
    json: bool,
    cargo_args: Vec<OsString>,
}

fn usage(what: impl Into<String>) -> CargoRseqError {
    CargoRseqError::Usage(what.into())
}

/// Parses the arguments after `rseq`. `Ok(None)` for `--help`.
fn parse(args: Vec<OsString>) -> Result<Option<Invocation>, CargoRseqError> {
    let mut args = args.into_iter();
    let command = match args.next() {
        None => return Err(usage("no command")),
        Some(c) if c == "--help" || c == "-h" || c == "help" => return Ok(None),
        Some(c) => c.to_string_lossy().into_owned(),
    };
    let mut rest: Vec<OsString> = args.collect();
    let mut action = match command.as_str() {
        "check" => Action::Check,
        "verify" => Action::Verify,
        "asm" => {
            let function = match rest.first().and_then(|a| a.to_str()) {
                Some(f) if !f.starts_with('-') => Some(f.to_string()),
                _ => None,
            };
            if function.is_some() {
                rest.remove(0);
            }
            Action::Asm {
                function,
                diff: None,
            }
        }
        "inject" => Action::Inject {
            select: None,
            program_args: Vec::new(),
        },
        other => return Err(usage(format!("unknown command `{other}`"))),
    };
    let mut json = false;
    let mut cargo_args = Vec::new();
    let mut it = rest.into_iter();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy().into_owned();
        if text == "--help" || text == "-h" {
            return Ok(None);
        }
        if text == "--json" || text == "--message-format=json" {
            json = true;
            continue;
        }
        if text == "--message-format" {
            match it.next() {
                Some(v) if v == "json" => json = true,
                _ => return Err(usage("--message-format: only `json` is accepted")),
            }
            continue;
        }
        if text.starts_with("--message-format") {
            return Err(usage("--message-format: only `json` is accepted"));
        }
        match &mut action {
            Action::Asm { diff, .. } if text == "--diff" || text.starts_with("--diff=") => {
                let rev = match text.strip_prefix("--diff=") {
                    Some(r) => r.to_string(),
                    None => it
                        .next()
                        .map(|r| r.to_string_lossy().into_owned())
                        .ok_or_else(|| usage("--diff needs a git revision"))?,
                };
                *diff = Some(rev);
                continue;
            }
            Action::Inject {
                select,
                program_args,
            } => {
                if text == "--" {
                    program_args.extend(it.by_ref());
                    break;
                }
                if let Some(kind) = ["--test", "--bin", "--example"]
                    .into_iter()
                    .find(|k| text == *k || text.starts_with(&format!("{k}=")))
                {
                    let name = match text.strip_prefix(&format!("{kind}=")) {
                        Some(n) => n.to_string(),
                        None => it
                            .next()
                            .map(|n| n.to_string_lossy().into_owned())
                            .ok_or_else(|| usage(format!("{kind} needs a target name")))?,
                    };
                    if select.is_some() {
                        return Err(usage(
                            "inject runs one target: one --test, --bin or --example",
                        ));
                    }
                    cargo_args.push(OsString::from(kind));
                    cargo_args.push(OsString::from(&name));
                    *select = Some((kind.trim_start_matches("--").to_string(), name));
                    continue;
                }
            }
            _ => {}
        }
        cargo_args.push(arg);
    }
    if let Action::Asm {
        function: None,
        diff: None,
    } = action
    {
        return Err(usage("asm: no FUNCTION"));
    }
    Ok(Some(Invocation {
        action,
        json,
        cargo_args,
    }))
}

/// What one `cargo build` produced.
struct Build {
    artifacts: Vec<Artifact>,
    harnesses: Vec<Artifact>,
}

/// Runs `cargo build` with `args` in `dir` (the current directory when `None`), with
/// `target_dir` as `CARGO_TARGET_DIR` when given. A progress line goes to standard error
/// while it runs, when that is a terminal.
fn build(
    args: &[OsString],
    dir: Option<&Path>,
    target_dir: Option<&Path>,
) -> Result<Build, CargoRseqError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--message-format=json-render-diagnostics")
        .args(args)
        .stdout(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    if let Some(t) = target_dir {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let mut child = cmd.spawn().map_err(|e| {
        CargoRseqError::Build(format!("cannot run {}: {e}", cargo.to_string_lossy()))
    })?;
    let progress = std::io::stderr().is_terminal();
    let (mut artifacts, mut harnesses) = (Vec::new(), Vec::new());
    let mut units = 0usize;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if progress && line.contains("\"compiler-artifact\"") {
                units += 1;
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K    cargo rseq: {units} unit(s) built, {} linked artifact(s)",
                    artifacts.len()
                );
                let _ = err.flush();
            }
            artifacts.extend(artifacts_of_message(&line));
            harnesses.extend(harness_of_message(&line));
        }
    }
    if progress {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
    match child.wait() {
        Ok(s) if s.success() => {}
        _ => return Err(CargoRseqError::Build("the build failed".into())),
    }
    artifacts.dedup();
    harnesses.dedup();
    Ok(Build {
        artifacts,
        harnesses,
    })
}

/// Writes one Cargo-style JSON message to standard output.
fn print_message(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}").and_then(|()| out.flush());
}

fn status_name(s: ExitStatus) -> &'static str {
    match s {
        ExitStatus::Clean => "clean",
        ExitStatus::Findings => "findings",
        ExitStatus::Unanalysable => "unanalysable",
        ExitStatus::Usage => "usage",
    }
}

/// The worse of two statuses (could not analyse over findings over clean).
fn worse(a: ExitStatus, b: ExitStatus) -> ExitStatus {
    let rank = |s| match s {
        ExitStatus::Clean => 0,
        ExitStatus::Findings => 1,
        ExitStatus::Usage => 2,
        ExitStatus::Unanalysable => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn artifact_message(
    action: &Action,
    a: &Artifact,
    status: ExitStatus,
    report: Option<serde_json::Value>,
    error: Option<String>,
) -> serde_json::Value {
    let mut m = serde_json::json!({
        "reason": "rseq-artifact",
        "command": action.name(),
        "package": a.package,
        "target": { "name": a.target, "kind": a.kind },
        "path": a.path,
        "status": status_name(status),
    });
    if let Some(r) = report {
        m["report"] = r;
    }
    if let Some(e) = error {
        m["error"] = e.into();
    }
    m
}

/// Runs `cargo rseq` with `args` (the arguments after the program name; Cargo passes `rseq`
/// first). Returns the exit status.
pub fn run(args: Vec<OsString>) -> ExitStatus {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == "rseq") {
        args.next();
    }
    let inv = match parse(args.collect()) {
        Ok(Some(inv)) => inv,
        Ok(None) => {
            println!("{USAGE}");
            return ExitStatus::Clean;
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitStatus::Usage;
        }
    };
    match execute(&inv) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            if inv.json {
                print_message(&serde_json::json!({
                    "reason": "rseq-finished",
                    "command": inv.action.name(),
                    "status": status_name(e.exit_status()),
                    "success": false,
                    "error": e.to_string(),
                }));
            }
            e.exit_status()
        }
    }
}

fn execute(inv: &Invocation) -> Result<ExitStatus, CargoRseqError> {
    if let Action::Asm {
        function,
        diff: Some(rev),
    } = &inv.action
    {
        return asm_diff(inv, function.as_deref(), rev);
    }
    let built = match build(&inv.cargo_args, None, None) {
        Ok(b) => b,
        Err(CargoRseqError::Build(e)) => {
            return Err(CargoRseqError::Build(format!("{e}; nothing was analysed")))
        }
        Err(e) => return Err(e),
    };
    if let Action::Inject {
        select,
        program_args,
    } = &inv.action
    {
        return inject(&built, select.as_ref(), program_args, inv.json);
    }
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let mut status = ExitStatus::Clean;
    let mut names = Vec::new();
    let mut listed = 0usize;
    for a in &built.artifacts {
        let result = match &inv.action {
            Action::Check => check_artifact_report(a, &mut err),
            Action::Verify => crate::verify::verify_file(&a.path).map(|v| {
                print_verify_findings(&v, a, &mut err);
                (v.exit_status(), to_json(&v))
            }),
            Action::Asm { function, .. } => {
                asm_artifact(a, function.as_deref(), inv.json, &mut names, &mut listed)
            }
            Action::Inject { .. } => unreachable!("inject returned above"),
        };
        match result {
            Ok((s, report)) => {
                status = worse(status, s);
                if inv.json {
                    print_message(&artifact_message(&inv.action, a, s, Some(report), None));
                }
            }
            Err(e) => {
                let _ = writeln!(
                    err,
                    "error: cannot analyse {} (package `{}`, {} `{}`): {e}",
                    a.path.display(),
                    a.package,
                    a.kind,
                    a.target
                );
                status = ExitStatus::Unanalysable;
                if inv.json {
                    print_message(&artifact_message(
                        &inv.action,
                        a,
                        ExitStatus::Unanalysable,
                        None,
                        Some(e.to_string()),
                    ));
                }
            }
        }
    }
    if let Action::Asm {
        function: Some(f), ..
    } = &inv.action
    {
        if listed == 0 && status != ExitStatus::Unanalysable {
            names.sort();
            names.dedup();
            let _ = writeln!(
                err,
                "error: no critical section is in a function matching `{f}`; the functions with critical sections are:"
            );
            for n in &names {
                let _ = writeln!(err, "  {n}");
            }
            status = worse(status, ExitStatus::Findings);
        }
    }
    let _ = writeln!(
        err,
        "rseq-link-check: {} artifact(s) {}: {}",
        built.artifacts.len(),
        match inv.action {
            Action::Asm { .. } => "listed",
            _ => "checked",
        },
        match status {
            ExitStatus::Clean => "clean",
            ExitStatus::Findings => "findings",
            _ => "could not analyse everything",
        }
    );
    if inv.json {
        print_message(&serde_json::json!({
            "reason": "rseq-finished",
            "command": inv.action.name(),
            "artifacts": built.artifacts.len(),
            "status": status_name(status),
            "success": status == ExitStatus::Clean,
        }));
    }
    Ok(status)
}

/// `asm FUNCTION` over one artifact: prints the listing when a section matches (human form
/// unless `json`), collects the names of the functions with sections otherwise.
fn asm_artifact(
    a: &Artifact,
    function: Option<&str>,
    json: bool,
    names: &mut Vec<String>,
    listed: &mut usize,
) -> crate::Result<(ExitStatus, serde_json::Value)> {
    let listing = crate::asm::listing_for_file(&a.path, function)?;
    if listing.sections.is_empty() {
        let all = crate::asm::listing_for_file(&a.path, None)?;
        names.extend(
            all.sections
                .iter()
                .filter_map(|s| s.section.function_text()),
        );
        // Nothing to list here is not a finding of this artifact.
        return Ok((ExitStatus::Clean, to_json(&listing)));
    }
    *listed += listing.sections.len();
    if !json {
        println!(
            "==> package `{}`, {} `{}`: {}",
            a.package,
            a.kind,
            a.target,
            a.path.display()
        );
        print_human(&listing);
    }
    Ok((listing.exit_status(), to_json(&listing)))
}

/// `inject`: the selected executable of `built` (the only one when nothing is selected)
/// under abort injection.
fn inject(
    built: &Build,
    select: Option<&(String, String)>,
    program_args: &[OsString],
    json: bool,
) -> Result<ExitStatus, CargoRseqError> {
    let candidates: Vec<&Artifact> = match select {
        Some((kind, name)) if kind == "test" => built
            .harnesses
            .iter()
            .filter(|a| &a.target == name)
            .collect(),
        Some((kind, name)) => built
            .artifacts
            .iter()
            .filter(|a| &a.kind == kind && &a.target == name)
            .collect(),
        None => built
            .artifacts
            .iter()
            .filter(|a| a.kind == "bin" || a.kind == "example")
            .collect(),
    };
    let program = match candidates.as_slice() {
        [one] => *one,
        [] => return Err(CargoRseqError::Build(
            "the build produced no executable to run (select one with --test, --bin or --example)"
                .into(),
        )),
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|a| format!("{} `{}`", a.kind, a.target))
                .collect();
            return Err(usage(format!(
                "inject runs one executable; the build produced {}: select one with --test, --bin or --example",
                names.join(", ")
            )));
        }
    };
    let mut command = vec![program.path.clone().into_os_string()];
    command.extend(program_args.iter().cloned());
    Ok(crate::cli::inject(
        &command,
        crate::inject::InjectOptions::default(),
        json,
    )?)
}

/// Runs `program` with `args`; its standard output, or an error naming it.
fn run_tool(program: &str, args: &[&std::ffi::OsStr], dir: &Path) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{program} {} failed: {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A temporary `git worktree` at a revision, removed when dropped.
struct TempWorktree {
    repo: PathBuf,
    dir: PathBuf,
}

impl Drop for TempWorktree {
    fn drop(&mut self) {
        let _ = Command::new("git")
            .arg("worktree")
            .arg("remove")
            .arg("--force")
            .arg(&self.dir)
            .current_dir(&self.repo)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = Command::new("git")
            .args(["worktree", "prune"])
            .current_dir(&self.repo)
            .status();
    }
}

/// A fresh directory name under the system's temporary directory.
fn temp_path(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("cargo-rseq-{what}-{}-{nanos}", std::process::id()))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CargoRseqError + '_ {
    move |source| CargoRseqError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `asm [FUNCTION] --diff REV`: builds the package at `rev` in a temporary git worktree,
/// into the directory `cargo-rseq-diff` of the target directory (its own, so that the
/// working tree's build is never overwritten by the old one and stays fresh; it keeps the
/// old build's dependencies for the next comparison), builds the working tree, and compares
/// each artifact's sections.
fn asm_diff(
    inv: &Invocation,
    function: Option<&str>,
    rev: &str,
) -> Result<ExitStatus, CargoRseqError> {
    let cwd = std::env::current_dir().map_err(io_error(Path::new(".")))?;
    let git = |args: &[&str]| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        run_tool("git", &args, &cwd).map_err(CargoRseqError::Git)
    };
    let top = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    let prefix = git(&["rev-parse", "--show-prefix"])?.trim().to_string();
    let commit = git(&["rev-parse", "--verify", &format!("{rev}^{{commit}}")])?
        .trim()
        .to_string();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let metadata = run_tool(
        &cargo,
        &["metadata", "--format-version", "1", "--no-deps"].map(std::ffi::OsStr::new),
        &cwd,
    )
    .map_err(CargoRseqError::Build)?;
    let target_dir = serde_json::from_str::<serde_json::Value>(&metadata)
        .ok()
        .and_then(|m| m["target_directory"].as_str().map(PathBuf::from))
        .ok_or_else(|| CargoRseqError::Build("cargo metadata: no target directory".into()))?;

    let old_target = target_dir.join("cargo-rseq-diff");
    let scratch = temp_path("diff");
    std::fs::create_dir_all(&scratch).map_err(io_error(&scratch))?;
    let result = (|| {
        let tree = TempWorktree {
            repo: top.clone(),
            dir: scratch.join("tree"),
        };
        let tree_arg = tree.dir.display().to_string();
        git(&["worktree", "add", "--detach", "--quiet", &tree_arg, &commit])?;
        let old = build(
            &inv.cargo_args,
            Some(&tree.dir.join(&prefix)),
            Some(&old_target),
        )
        .map_err(|e| CargoRseqError::Build(format!("at {rev}: {e}")))?;
        drop(tree);
        let new = build(&inv.cargo_args, None, None)?;
        Ok::<_, CargoRseqError>((old, new))
    })();
    let outcome = result.and_then(|(old, new)| diff_builds(inv, function, rev, &old, &new));
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

/// Compares the sections of each artifact of `new` with the same target of the old build.
fn diff_builds(
    inv: &Invocation,
    function: Option<&str>,
    rev: &str,
    old: &Build,
    new: &Build,
) -> Result<ExitStatus, CargoRseqError> {
    let mut status = ExitStatus::Clean;
    let mut compared = 0usize;
    for a in &new.artifacts {
        let Some(old_path) = old
            .artifacts
            .iter()
            .find(|o| o.package == a.package && o.kind == a.kind && o.target == a.target)
            .map(|o| &o.path)
        else {
            eprintln!(
                "note: package `{}`, {} `{}` is not built at {rev}: nothing to compare",
                a.package, a.kind, a.target
            );
            continue;
        };
        compared += 1;
        let (s, report, error) = match crate::asm::diff_files(old_path, &a.path, function) {
            Ok(mut diff) => {
                diff.old = format!("{} ({rev})", old_path.display());
                let s = diff.exit_status();
                if !inv.json {
                    println!(
                        "==> package `{}`, {} `{}`: {rev} -> working tree",
                        a.package, a.kind, a.target
                    );
                    print_human(&diff);
                }
                (s, Some(to_json(&diff)), None)
            }
            Err(e) => {
                eprintln!(
                    "error: cannot compare {} (package `{}`, {} `{}`): {e}",
                    a.path.display(),
                    a.package,
                    a.kind,
                    a.target
                );
                (ExitStatus::Unanalysable, None, Some(e.to_string()))
            }
        };
        status = worse(status, s);
        if inv.json {
            print_message(&artifact_message(&inv.action, a, s, report, error));
        }
    }
    eprintln!(
        "rseq-link-check: {compared} artifact(s) compared with {rev}: {}",
        match status {
            ExitStatus::Clean => "no change",
            ExitStatus::Findings => "changes",
            _ => "could not compare everything",
        }
    );
    if inv.json {
        print_message(&serde_json::json!({
            "reason": "rseq-finished",
            "command": inv.action.name(),
            "artifacts": compared,
            "status": status_name(status),
            "success": status == ExitStatus::Clean,
        }));
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_come_from_compiler_artifact_messages() {
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/app#0.1.0","target":{"kind":["bin"],"crate_types":["bin"],"name":"app"},"filenames":["/w/target/debug/app"],"executable":"/w/target/debug/app"}"#;
        let cdylib = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/x#plug@0.2.0","target":{"kind":["cdylib","rlib"],"name":"plug"},"filenames":["/w/target/debug/libplug.so","/w/target/debug/libplug.rlib"],"executable":null}"#;
        let lib = r#"{"reason":"compiler-artifact","package_id":"dep 1.0.0 (registry+https://x)","target":{"kind":["lib"],"name":"dep"},"filenames":["/w/target/debug/libdep.rlib"],"executable":null}"#;
        assert_eq!(
            artifacts_of_message(bin),
            vec![Artifact {
                package: "app".into(),
                target: "app".into(),
                kind: "bin".into(),
                path: "/w/target/debug/app".into()
            }]
        );
        let c = artifacts_of_message(cdylib);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].package.as_str(), c[0].kind.as_str()),
            ("plug", "cdylib")
        );
        assert!(artifacts_of_message(lib).is_empty());
        let harness = bin.replace(r#""executable""#, r#""profile":{"test":true},"executable""#);
        assert!(artifacts_of_message(&harness).is_empty());
        assert!(artifacts_of_message("not json").is_empty());
        assert_eq!(package_name("dep 1.0.0 (registry+https://x)"), "dep");
        let test = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/app#0.1.0","target":{"kind":["test"],"name":"it"},"profile":{"test":true},"filenames":["/w/target/debug/deps/it-1"],"executable":"/w/target/debug/deps/it-1"}"#;
        assert_eq!(
            harness_of_message(test).map(|a| a.target),
            Some("it".into())
        );
        assert!(harness_of_message(&harness).is_none(), "a bin's unit tests");
    }

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn command_lines_split_into_the_subcommand_json_and_cargos_options() {
        let inv = parse(args(&["asm", "f", "--diff", "HEAD~1", "--json", "-p", "x"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            inv.action,
            Action::Asm {
                function: Some("f".into()),
                diff: Some("HEAD~1".into())
            }
        );
        assert!(inv.json);
        assert_eq!(inv.cargo_args, args(&["-p", "x"]));

        let inv = parse(args(&[
            "inject",
            "--bin",
            "demo",
            "--offline",
            "--message-format",
            "json",
            "--",
            "broken",
            "--json",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            inv.action,
            Action::Inject {
                select: Some(("bin".into(), "demo".into())),
                program_args: args(&["broken", "--json"])
            }
        );
        assert!(inv.json);
        assert_eq!(inv.cargo_args, args(&["--bin", "demo", "--offline"]));

        let inv = parse(args(&["verify", "--message-format=json"]))
            .unwrap()
            .unwrap();
        assert!(inv.json && inv.action == Action::Verify);
        assert!(parse(args(&["check", "--help"])).unwrap().is_none());
        for bad in [
            &["asm"][..],
            &["asm", "--diff"],
            &["check", "--message-format=short"],
            &["inject", "--bin", "a", "--test", "b"],
            &["frobnicate"],
            &[],
        ] {
            let e = parse(args(bad)).unwrap_err();
            assert_eq!(e.exit_status(), ExitStatus::Usage, "{bad:?}: {e}");
        }
    }
}
