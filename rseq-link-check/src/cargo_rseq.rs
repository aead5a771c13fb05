//! `cargo rseq check`: the Cargo subcommand (binary `cargo-rseq`) that builds a package and
//! checks every linked artifact it produced.
//!
//! It runs `cargo build --message-format=json-render-diagnostics` with the options given,
//! takes the artifacts from Cargo's `compiler-artifact` messages (executables: `bin` and
//! `example` targets; shared objects: `cdylib` and `dylib`; not test harnesses), and over
//! each runs the loader
//! model's `check` and the critical-section verifier (`verify`). Findings are printed the
//! way rustc prints diagnostics, naming the package and target; the exit status is 0 when
//! clean, 1 on findings (loader findings at error severity, verifier errors or warnings), 2
//! when the build failed or an artifact could not be analysed, 64 on a usage error.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::diag::{Diagnostic, Severity};
use crate::error::ExitStatus;
use crate::loader::Options;
use crate::report::Outcome;

/// The usage text.
pub const USAGE: &str = "\
usage: cargo rseq check [cargo build options]

Builds with cargo, then checks every bin, example, cdylib and dylib it produced: the loader
model's rseq rules (rseq-link-check check) and every critical section (rseq-link-check
verify). Exit status: 0 clean, 1 findings, 2 the build failed or an artifact could not be
analysed, 64 usage error.";

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
    for f in verify.all_findings() {
        if f.severity != Severity::Info {
            let _ = print_diagnostic(w, &f.diagnostic, a);
        }
    }
    if verify.exit_status() == ExitStatus::Findings {
        status = ExitStatus::Findings;
    }
    Ok(status)
}

/// Runs `cargo rseq` with `args` (the arguments after the program name; Cargo passes `rseq`
/// first). Returns the exit status.
pub fn run(args: Vec<OsString>) -> ExitStatus {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == "rseq") {
        args.next();
    }
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    match args.next() {
        Some(c) if c == "check" => {}
        Some(c) if c == "--help" || c == "-h" => {
            println!("{USAGE}");
            return ExitStatus::Clean;
        }
        other => {
            let _ = writeln!(
                err,
                "error: {}\n{USAGE}",
                match other {
                    Some(o) => format!("unknown command `{}`", o.to_string_lossy()),
                    None => "no command".to_string(),
                }
            );
            return ExitStatus::Usage;
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let child = Command::new(&cargo)
        .arg("build")
        .arg("--message-format=json-render-diagnostics")
        .args(args)
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "error: cannot run {}: {e}", cargo.to_string_lossy());
            return ExitStatus::Unanalysable;
        }
    };
    let mut artifacts = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            artifacts.extend(artifacts_of_message(&line));
        }
    }
    match child.wait() {
        Ok(s) if s.success() => {}
        _ => {
            let _ = writeln!(err, "error: the build failed; nothing was checked");
            return ExitStatus::Unanalysable;
        }
    }
    artifacts.dedup();
    let mut status = ExitStatus::Clean;
    for a in &artifacts {
        match check_artifact(a, &mut err) {
            Ok(ExitStatus::Clean) => {}
            Ok(s) => {
                if status == ExitStatus::Clean {
                    status = s;
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
            }
        }
    }
    let _ = writeln!(
        err,
        "rseq-link-check: {} artifact(s) checked: {}",
        artifacts.len(),
        match status {
            ExitStatus::Clean => "clean",
            ExitStatus::Findings => "findings",
            _ => "could not analyse everything",
        }
    );
    status
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
    }
}
