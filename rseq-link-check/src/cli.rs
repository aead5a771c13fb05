//! What the `rseq-link-check` command does beyond parsing its arguments: printing a report
//! to standard output, loading a program with the loader's refusal reported, the argument
//! forms that need more than clap (`--dlopen PATH:MODE`), and the no-argument demo. The
//! binary (`main.rs`) only parses and dispatches to these and to the analyses.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::analysis;
use crate::error::{Error, ExitStatus};
use crate::loader::{DlopenMode, Options, Process};
use crate::render::{emit, ColorChoice, Format, Render, RenderOptions};
use crate::report::Outcome;

/// The exit statuses, as `--help` shows them after the options.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0   clean: no finding at error severity (verify, asm: no error or warning)
  1   findings
  2   unreadable or unanalysable input
  64  usage error (EX_USAGE): bad arguments, unknown diagnostic code, bad policy setting";

/// Renders `report` in `format` to standard output (colour resolved against it) and
/// returns the exit status the report calls for. A closed pipe is not an error.
pub fn print<R: Render + Outcome>(
    report: &R,
    format: Format,
    color: ColorChoice,
) -> Result<ExitStatus, Error> {
    let stdout = std::io::stdout();
    let opts = RenderOptions::new(color, stdout.is_terminal());
    let mut out = std::io::BufWriter::new(stdout.lock());
    match emit(report, format, &opts, &mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(report.exit_status()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(report.exit_status()),
        Err(e) => Err(Error::Output(e)),
    }
}

/// Parses a `--dlopen` value: `PATH` (local scope) or `PATH:local|global|deepbind`.
pub fn parse_dlopen(spec: &str) -> Result<(String, DlopenMode), Error> {
    match spec.rsplit_once(':') {
        Some((path, mode)) => Ok((
            path.to_string(),
            mode.parse::<DlopenMode>().map_err(Error::Usage)?,
        )),
        None => Ok((spec.to_string(), DlopenMode::Local)),
    }
}

/// Why the dynamic loader would refuse to start `p` (missing files or versions), if it
/// would.
pub fn refusal(p: &Process, program: &Path) -> Option<Error> {
    if !p.refuses_to_start() {
        return None;
    }
    let mut what: Vec<String> = p
        .missing
        .iter()
        .filter(|m| !m.ignored)
        .map(|m| format!("{} not found (needed by {})", m.name, m.needed_by))
        .collect();
    what.extend(p.missing_versions.iter().map(|v| {
        format!(
            "version `{}' not found in {} (required by {})",
            v.version, v.file, v.required_by
        )
    }));
    Some(Error::LoaderRefuses {
        path: program.to_path_buf(),
        what: what.join("; "),
    })
}

/// Loads `program` as the loader model does; when the real loader would refuse to start
/// it, says so on standard error and goes on (the reports name what is missing).
pub fn load(program: &Path, opts: &Options) -> Result<Process, Error> {
    let p = Process::load(program, opts)?;
    if let Some(e) = refusal(&p, program) {
        eprintln!("error: {e}");
    }
    Ok(p)
}

/// With no arguments: resolve `__rseq_abi` and glibc's `__rseq_offset` for a real program
/// (`ls`, else this executable), then check it.
pub fn demo() -> Result<ExitStatus, Error> {
    let program = ["/usr/bin/ls", "/bin/ls"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| std::env::current_exe().ok())
        .ok_or_else(|| Error::Usage("no program to analyse".into()))?;
    let p = Process::load(
        &program,
        &Options {
            vdso: true,
            ..Options::default()
        },
    )?;
    let mut status = ExitStatus::Clean;
    for symbol in [analysis::RSEQ_ABI, "__rseq_offset"] {
        let r = analysis::resolve(&p, symbol);
        if r.exit_status() == ExitStatus::Findings {
            status = ExitStatus::Findings;
        }
        print(&r, Format::Human, ColorChoice::Auto)?;
        println!();
    }
    // The verdict: every rule of the catalog over the same process.
    println!("$ rseq-link-check check {}", program.display());
    let c = analysis::check(&p);
    if c.exit_status() == ExitStatus::Findings {
        status = ExitStatus::Findings;
    }
    print(&c, Format::Human, ColorChoice::Auto)?;
    println!();
    println!(
        "hint: pass a file: `rseq-link-check resolve|check|verify|asm <ELF>` (`--json` for tools); see `rseq-link-check --help`"
    );
    Ok(status)
}

/// `inject`: runs `command` (the program, then its arguments) under abort injection with
/// `opts` and prints the report (JSON with `json`, the program's standard output then
/// going to standard error); the progress line goes to standard error when it is a
/// terminal.
pub fn inject(
    command: &[std::ffi::OsString],
    mut opts: crate::inject::InjectOptions,
    json: bool,
) -> Result<ExitStatus, Error> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::Usage("inject: no program after `--`".into()))?;
    opts.progress = std::io::stderr().is_terminal();
    opts.stdout_to_stderr = json;
    let report = crate::inject::inject(Path::new(program), args, &opts)?;
    let format = if json { Format::Json } else { Format::Human };
    print(&report, format, ColorChoice::Auto)
}
