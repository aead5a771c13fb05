//! The build-script API: a few lines in `build.rs` check, before the crate is linked, what
//! the link will make of `__rseq_abi`.
//!
//! ```no_run
//! // In build.rs's `main`:
//! rseq_link_check::buildscript::Check::new()
//!     .own_definition(32) // rseq-abi with the `legacy-rseq-abi` feature
//!     .search_path("native=/opt/foo/lib")
//!     .link_lib("dylib=foo")
//!     .emit_link_directives(true) // also prints the cargo:rustc-link-* lines
//!     .run();
//! ```
//!
//! What [`Check::evaluate`] does:
//!
//! 1. Finds the target's C library and dynamic loader through the C compiler
//!    (`-print-file-name`): the glibc version, and whether it owns rseq registration
//!    (`__rseq_offset@GLIBC_2.35` in `ld.so`).
//! 2. Builds a stand-in for the crate's own objects in `OUT_DIR` with the C compiler (code
//!    that uses the symbol) and, with [`Check::own_definition`], an archive holding the weak
//!    thread-local definition `rseq-abi` provides, placed where rustc puts upstream Rust
//!    archives: after the `rustc-link-lib` libraries, before the `rustc-link-arg`s. Declared
//!    archives are taken whole (the crate is assumed to use them), declared shared libraries
//!    are kept (`--no-as-needed`).
//! 3. Predicts that link with the rules of the linker rustc uses ([`Check::linker`]; lld by
//!    default, as rustc does on `x86_64-unknown-linux-gnu`), then performs it for real (with
//!    unresolved symbols ignored, since the crate's code is not there yet) and runs the
//!    loader model over the result, with the declared library directories as
//!    `LD_LIBRARY_PATH`. A `cdylib` is linked with a version script like rustc's.
//! 4. Applies the [`Policy`] and reports: `cargo:warning=` lines for warnings; for errors the
//!    report names the modules, sizes and the fix, and [`Check::run`] fails the build.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::diag::Code;
use crate::error::UnknownCode;
use crate::link::args::{LinkLine, LinkerFlavor};
use crate::link::libc::TargetLibc;
use crate::link::policy::{Level, Policy};
use crate::link::prediction::{predict, PredictOptions};
pub use crate::link::report::BuildReport;
use crate::link::report::LinkReport;
use crate::link::search::SearchConfig;
use crate::render::{emit, Format, RenderOptions};

/// The kind of crate being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CrateType {
    /// An executable.
    Bin,
    /// A C-compatible shared library (rustc links it with a version script that makes every
    /// symbol it does not list local).
    Cdylib,
}

/// How a declared library is linked (`cargo:rustc-link-lib=KIND=NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LibKind {
    Static,
    Dylib,
    Either,
}

/// Why the check could not run: the crate's [`Error`](crate::Error) (a bad policy
/// setting, the compiler or a file of the trial link, the link line, the loader model).
pub type BuildScriptError = crate::Error;

/// A build-script check of the crate's link inputs.
#[derive(Debug, Clone)]
pub struct Check {
    symbol: String,
    crate_type: CrateType,
    own_definition: Option<u64>,
    libs: Vec<(LibKind, String)>,
    search_dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    link_args: Vec<String>,
    levels: Vec<(String, Level)>,
    compiler: String,
    flavor: LinkerFlavor,
    emit_link_directives: bool,
    out_dir: Option<PathBuf>,
    libc: Option<PathBuf>,
}

impl Default for Check {
    fn default() -> Self {
        Check::new()
    }
}

impl Check {
    /// A check of `__rseq_abi` for a `bin`, with the C compiler from `RSEQ_LINK_CHECK_CC`,
    /// `CC` or `cc`, and `OUT_DIR` as the work directory.
    pub fn new() -> Check {
        let compiler = std::env::var("RSEQ_LINK_CHECK_CC")
            .or_else(|_| std::env::var("CC"))
            .unwrap_or_else(|_| "cc".to_string());
        Check {
            symbol: "__rseq_abi".to_string(),
            crate_type: CrateType::Bin,
            own_definition: None,
            libs: Vec::new(),
            search_dirs: Vec::new(),
            files: Vec::new(),
            link_args: Vec::new(),
            levels: Vec::new(),
            compiler,
            flavor: LinkerFlavor::Lld,
            emit_link_directives: false,
            out_dir: std::env::var_os("OUT_DIR").map(PathBuf::from),
            libc: None,
        }
    }

    /// The symbol to check (default `__rseq_abi`).
    pub fn symbol(mut self, name: &str) -> Check {
        self.symbol = name.to_string();
        self
    }

    /// The kind of crate (default [`CrateType::Bin`]).
    pub fn crate_type(mut self, t: CrateType) -> Check {
        self.crate_type = t;
        self
    }

    /// The crate's own objects define the symbol: weak, thread-local, `size` bytes (32 for
    /// `rseq-abi` with the `legacy-rseq-abi` feature).
    pub fn own_definition(mut self, size: u64) -> Check {
        self.own_definition = Some(size);
        self
    }

    /// A library the crate links, in `cargo:rustc-link-lib` syntax: `[KIND[:MODIFIERS]=]NAME`
    /// with KIND `static`, `dylib` or `framework`. rustc names these before the upstream Rust
    /// archives; a library passed with [`Check::link_arg`] (`-lNAME`) comes after them.
    pub fn link_lib(mut self, spec: &str) -> Check {
        let (kind, name) = match spec.split_once('=') {
            Some((k, n)) => {
                let kind = match k.split(':').next() {
                    Some("static") => LibKind::Static,
                    Some("dylib") => LibKind::Dylib,
                    _ => LibKind::Either,
                };
                (kind, n)
            }
            None => (LibKind::Either, spec),
        };
        let name = name.split(':').next().unwrap_or(name);
        self.libs.push((kind, name.to_string()));
        self
    }

    /// A library directory in `cargo:rustc-link-search` syntax: `[KIND=]PATH`.
    pub fn search_path(mut self, spec: impl AsRef<Path>) -> Check {
        let s = spec.as_ref().to_string_lossy().into_owned();
        let path = match s.split_once('=') {
            Some((k, p)) if ["native", "dependency", "crate", "all", "framework"].contains(&k) => p,
            _ => s.as_str(),
        };
        self.search_dirs.push(PathBuf::from(path));
        self
    }

    /// The libraries and directories a pkg-config query returned (`pkg_config::Library`'s
    /// `libs` and `link_paths`).
    pub fn pkg_config(mut self, libs: &[String], link_paths: &[PathBuf]) -> Check {
        self.search_dirs.extend(link_paths.iter().cloned());
        self.libs
            .extend(libs.iter().map(|l| (LibKind::Either, l.clone())));
        self
    }

    /// An object, archive or shared library the link names by path.
    pub fn file(mut self, path: impl AsRef<Path>) -> Check {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// An extra linker argument the crate passes (`cargo:rustc-link-arg`), e.g. a version
    /// script that exports the symbol from a `cdylib`.
    pub fn link_arg(mut self, arg: &str) -> Check {
        self.link_args.push(arg.to_string());
        self
    }

    /// The linker whose rules the prediction follows and that performs the trial link
    /// (default lld, rustc's default on `x86_64-unknown-linux-gnu`).
    pub fn linker(mut self, flavor: LinkerFlavor) -> Check {
        self.flavor = flavor;
        self
    }

    /// The C library to describe, instead of asking the compiler.
    pub fn libc(mut self, path: impl AsRef<Path>) -> Check {
        self.libc = Some(path.as_ref().to_path_buf());
        self
    }

    /// The work directory (default `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Check {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Makes findings of `code` errors.
    pub fn deny(mut self, code: &str) -> Check {
        self.levels.push((code.to_string(), Level::Deny));
        self
    }

    /// Makes findings of `code` warnings.
    pub fn warn(mut self, code: &str) -> Check {
        self.levels.push((code.to_string(), Level::Warn));
        self
    }

    /// Drops findings of `code`.
    pub fn allow(mut self, code: &str) -> Check {
        self.levels.push((code.to_string(), Level::Allow));
        self
    }

    /// Also prints the `cargo:rustc-link-search`/`cargo:rustc-link-lib` lines for the
    /// declared libraries, so one list serves both the check and the build.
    pub fn emit_link_directives(mut self, yes: bool) -> Check {
        self.emit_link_directives = yes;
        self
    }

    fn policy(&self) -> Result<Policy, BuildScriptError> {
        let mut p = Policy::default();
        for (name, level) in &self.levels {
            let code = Code::from_name(name).ok_or_else(|| UnknownCode(name.clone()))?;
            p.set(code, *level);
        }
        // The environment has the last word.
        p.apply_env(|k| std::env::var(k).ok())?;
        Ok(p)
    }

    fn cc(&self, args: &[String]) -> Result<std::process::Output, BuildScriptError> {
        Command::new(&self.compiler)
            .args(args)
            .output()
            .map_err(|e| crate::Error::Compiler {
                compiler: self.compiler.clone(),
                message: e.to_string(),
            })
    }

    /// Compiles `src` to `work/NAME.o` with the C compiler.
    fn compile(&self, work: &Path, name: &str, src: &str) -> Result<PathBuf, BuildScriptError> {
        let c = work.join(format!("{name}.c"));
        std::fs::write(&c, src).map_err(|e| crate::Error::Write {
            path: c.clone(),
            source: e,
        })?;
        let obj = work.join(format!("{name}.o"));
        let out = self.cc(&[
            "-c".into(),
            "-fPIC".into(),
            "-o".into(),
            obj.display().to_string(),
            c.display().to_string(),
        ])?;
        if !out.status.success() {
            return Err(crate::Error::Compiler {
                compiler: self.compiler.clone(),
                message: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(obj)
    }

    /// Runs the check and returns the report (prints nothing).
    pub fn evaluate(&self) -> Result<BuildReport, BuildScriptError> {
        let policy = self.policy()?;
        let libc = TargetLibc::find(&self.compiler, self.libc.as_deref());
        let work = self
            .out_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join("rseq-link-check");
        std::fs::create_dir_all(&work).map_err(|e| crate::Error::Write {
            path: work.clone(),
            source: e,
        })?;
        let write = |name: &str, text: &str| -> Result<PathBuf, BuildScriptError> {
            let p = work.join(name);
            std::fs::write(&p, text).map_err(|e| crate::Error::Write {
                path: p.clone(),
                source: e,
            })?;
            Ok(p)
        };
        // The crate's own objects, as far as the symbol is concerned.
        let sym = &self.symbol;
        let mut src = format!(
            "/* Stand-in for the crate's objects. */\nextern __thread char {sym}[];\n\
             int rseq_link_check_crate_code(void) {{ return {sym}[0]; }}\n"
        );
        if self.crate_type == CrateType::Bin {
            src.push_str("int main(void) { return rseq_link_check_crate_code(); }\n");
        }
        let obj = self.compile(&work, "crate", &src)?;
        // The definition lives in an upstream Rust archive (rseq-abi's rlib), which rustc
        // names after the crate's own `rustc-link-lib` libraries.
        let own_archive = match self.own_definition {
            Some(size) => {
                let own = self.compile(
                    &work,
                    "own",
                    &format!(
                        "/* Stand-in for the upstream crate's weak TLS definition, with the marker\n\
                          rseq-abi keeps beside it (registered only when the C library does not). */\n\
                         __attribute__((weak, aligned(32), retain)) __thread char {sym}[{size}] = {{ 1 }};\n\
                         __attribute__((used, retain, section(\".rodata.{marker}\")))\n\
                         static const char rseq_abi_marker[] = \"{marker}\";\n",
                        marker = crate::analysis::DEFERS_TO_GLIBC_MARKER_STR,
                    ),
                )?;
                let archive = work.join("librseq_link_check_own.a");
                let _ = std::fs::remove_file(&archive);
                let ar = std::env::var("AR").unwrap_or_else(|_| "ar".to_string());
                let out = Command::new(&ar)
                    .arg("rcs")
                    .arg(&archive)
                    .arg(&own)
                    .output()
                    .map_err(|e| crate::Error::Compiler {
                        compiler: ar.clone(),
                        message: e.to_string(),
                    })?;
                if !out.status.success() {
                    return Err(crate::Error::Compiler {
                        compiler: ar,
                        message: String::from_utf8_lossy(&out.stderr).into_owned(),
                    });
                }
                Some(archive)
            }
            None => None,
        };
        let output = work.join(match self.crate_type {
            CrateType::Bin => "trial",
            CrateType::Cdylib => "libtrial.so",
        });
        let mut args: Vec<String> = vec![match self.flavor {
            LinkerFlavor::Lld => "-fuse-ld=lld".into(),
            LinkerFlavor::GnuLd => "-fuse-ld=bfd".into(),
        }];
        if self.crate_type == CrateType::Cdylib {
            args.push("-shared".into());
            let map = write(
                "rustc.map",
                "{\n  global:\n    rseq_link_check_crate_code;\n\n  local:\n    *;\n};\n",
            )?;
            args.push(format!("-Wl,--version-script={}", map.display()));
            // As rustc does: a version script naming an undefined symbol is an error.
            args.push("-Wl,--no-undefined-version".into());
        }
        args.push(obj.display().to_string());
        args.extend(self.files.iter().map(|f| f.display().to_string()));
        for d in &self.search_dirs {
            args.push(format!("-L{}", d.display()));
        }
        args.push("-Wl,--no-as-needed".into());
        for (kind, name) in &self.libs {
            match kind {
                LibKind::Static => args.extend([
                    "-Wl,-Bstatic".into(),
                    "-Wl,--whole-archive".into(),
                    format!("-l{name}"),
                    "-Wl,--no-whole-archive".into(),
                    "-Wl,-Bdynamic".into(),
                ]),
                _ => args.push(format!("-l{name}")),
            }
        }
        if let Some(a) = &own_archive {
            args.push(a.display().to_string());
        }
        args.extend(self.link_args.iter().cloned());
        args.extend([
            "-Wl,--gc-sections".into(),
            "-Wl,--unresolved-symbols=ignore-all".into(),
            "-o".into(),
            output.display().to_string(),
        ]);
        let line = LinkLine::parse(&args)?;
        let opts = PredictOptions {
            symbol: sym.clone(),
            search: SearchConfig::from_compiler(&self.compiler),
            flavor: Some(self.flavor),
        };
        let prediction = predict(&line, &opts)?;
        let _ = std::fs::remove_file(&output);
        let out = self.cc(&args)?;
        let library_path: Vec<String> = self
            .search_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let (link, link_error) = if out.status.success() {
            (
                LinkReport::with_output(prediction, &output, library_path, &policy)?,
                None,
            )
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let first = stderr
                .lines()
                .find(|l| l.contains("error"))
                .unwrap_or("the linker failed")
                .trim()
                .to_string();
            let mut prediction = prediction;
            // The prediction names the cause when it saw it; otherwise the linker's words.
            let predicted = prediction
                .diagnostics
                .iter()
                .any(|d| matches!(d.code, Code::LinkRejected | Code::LinkInputMissing));
            if !predicted {
                let missing = ["cannot find", "unable to find library", "No such file"]
                    .iter()
                    .any(|m| first.contains(m));
                let code = if missing {
                    Code::LinkInputMissing
                } else {
                    Code::LinkRejected
                };
                prediction.diagnostics.push(crate::diag::Diagnostic::new(
                    code,
                    format!("the link this crate declares fails: {first}"),
                ));
            }
            (
                LinkReport::from_prediction(prediction, &policy),
                Some(stderr),
            )
        };
        Ok(BuildReport {
            libc,
            link,
            link_error,
        })
    }

    /// Runs the check from `build.rs`: prints `cargo:warning=` lines for the findings, and
    /// on error-severity findings prints the report and exits with status 1 (the build
    /// fails). Returns the report when the build may go on.
    pub fn run(self) -> BuildReport {
        for var in [
            "RSEQ_LINK_CHECK_DENY",
            "RSEQ_LINK_CHECK_WARN",
            "RSEQ_LINK_CHECK_ALLOW",
            "RSEQ_LINK_CHECK_CC",
            "CC",
        ] {
            println!("cargo:rerun-if-env-changed={var}");
        }
        if self.emit_link_directives {
            for d in &self.search_dirs {
                println!("cargo:rustc-link-search=native={}", d.display());
            }
            for (kind, name) in &self.libs {
                match kind {
                    LibKind::Static => println!("cargo:rustc-link-lib=static={name}"),
                    LibKind::Dylib => println!("cargo:rustc-link-lib=dylib={name}"),
                    LibKind::Either => println!("cargo:rustc-link-lib={name}"),
                }
            }
        }
        for f in &self.files {
            println!("cargo:rerun-if-changed={}", f.display());
        }
        let report = match self.evaluate() {
            Ok(r) => r,
            Err(e) => {
                // A policy message names its variable; every other one says who speaks.
                let e = match e {
                    crate::Error::Policy(_) => e.to_string(),
                    _ => format!("rseq-link-check: {e}"),
                };
                println!("cargo:warning={e}");
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let _ = crate::render::cargo::warnings(&report.link.diagnostics, &mut std::io::stdout());
        if report.has_errors() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "rseq-link-check: the link of this crate would resolve {} unsafely:",
                self.symbol
            );
            let _ = emit(&report, Format::Human, &RenderOptions::default(), &mut err);
            let _ = writeln!(
                err,
                "(policy: RSEQ_LINK_CHECK_WARN=<code> or Check::warn makes a code a warning)"
            );
            std::process::exit(1);
        }
        report
    }
}
