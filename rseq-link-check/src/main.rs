//! `rseq-link-check`: a thin command line over the library. Parse arguments, call the
//! analysis, render the report in the chosen format, exit with the report's status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rseq_link_check::{self as lc, cli, ColorChoice, Error, ExitStatus, Format, Options, Process};

/// Predicts which `__rseq_abi` (and every other symbol) each module of a program binds to,
/// without running it.
#[derive(Debug, Parser)]
#[command(name = "rseq-link-check", version, about, after_help = cli::EXIT_STATUS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Where a symbol is defined, which definition wins, and which one each module uses.
    Resolve {
        #[command(flatten)]
        load: LoadArgs,
        /// The symbol to resolve.
        #[arg(long, default_value = lc::RSEQ_ABI)]
        symbol: String,
    },
    /// Every symbol binding of every loaded module (what LD_DEBUG=bindings prints).
    Bindings {
        #[command(flatten)]
        load: LoadArgs,
    },
    /// The rseq policy verdict: exit 0 clean, 1 findings at error severity, 2 unanalysable.
    Check {
        #[command(flatten)]
        load: LoadArgs,
        /// Judge __rseq_abi definitions against a kernel filling N bytes of struct rseq
        /// (AT_RSEQ_FEATURE_SIZE; default: this machine's).
        #[arg(long, value_name = "N")]
        kernel_feature_size: Option<u64>,
        /// Judge them against a kernel requiring N-byte alignment of a registration longer
        /// than 32 bytes (AT_RSEQ_ALIGN; default: this machine's).
        #[arg(long, value_name = "N")]
        kernel_align: Option<u64>,
    },
    /// The load graph with winning and losing definitions, as Graphviz DOT.
    Graph {
        #[command(flatten)]
        load: LoadArgs,
        /// The symbol whose definitions are marked.
        #[arg(long, default_value = lc::RSEQ_ABI)]
        symbol: String,
    },
    /// Checks every rseq critical section of an ELF executable, shared object or .o file:
    /// exit 0 clean, 1 findings (errors or warnings), 2 unreadable input.
    Verify {
        /// The ELF file.
        elf: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// An annotated listing of each critical section (start, commit, abort, exits) with
    /// the verdict, for code review.
    Asm {
        /// The ELF file.
        #[arg(required_unless_present = "diff")]
        elf: Option<PathBuf>,
        /// Compare the sections of two builds instead: added, removed and changed sections
        /// with an instruction-level diff (exit 0 no change, 1 changes, 2 unreadable).
        #[arg(long, num_args = 2, value_names = ["OLD", "NEW"], conflicts_with = "elf")]
        diff: Option<Vec<PathBuf>>,
        /// Only sections in functions whose demangled name contains PATTERN.
        #[arg(long, value_name = "PATTERN")]
        function: Option<String>,
        /// Colour: auto (when standard output is a terminal), always or never.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs a program under ptrace and injects an rseq abort at each instruction boundary
    /// of each critical section it reaches (x86_64).
    ///
    /// A preemption, then a signal, at each boundary, in the executable and every shared
    /// object it loads (dlopen included), on all its threads. Exit 0 every reached boundary
    /// injected and the program succeeded, 1 the program failed (or an injection did not
    /// abort), 2 the program could not be run.
    Inject(InjectArgs),
    /// What the static link makes of a symbol, from the command line rustc passes to `cc`
    /// (`predict -- <args>`); with the output file present, also the loader model over it.
    Predict {
        /// The symbol to follow.
        #[arg(long, default_value = lc::RSEQ_ABI)]
        symbol: String,
        /// Apply this linker's rules (`bfd` or `lld`) instead of the line's `-fuse-ld=`.
        #[arg(long)]
        rules: Option<String>,
        /// The C compiler whose library directories are searched.
        #[arg(long, default_value = "cc")]
        cc: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The link command line.
        #[arg(last = true, required = true)]
        args: Vec<String>,
    },
    /// The long explanation of a diagnostic code (all codes without an argument).
    Explain {
        /// A code such as `split-instance`.
        code: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `inject` options.
#[derive(Debug, Args)]
struct InjectArgs {
    /// Only sections in functions whose demangled name contains PATTERN.
    #[arg(long, value_name = "PATTERN")]
    function: Option<String>,
    /// Stop injecting after this many seconds (the program then runs on untouched).
    #[arg(long, value_name = "SECONDS")]
    time_budget: Option<f64>,
    /// Inject at every visit of a section, not once per boundary and kind.
    #[arg(long)]
    every_visit: bool,
    /// The signal injected (handled or ignored by the program; otherwise left out).
    #[arg(long, default_value = "SIGURG")]
    signal: String,
    /// A function the program calls where it checks its state: after each injection, the
    /// next waits until the injected thread has called it.
    #[arg(long, value_name = "SYMBOL")]
    checkpoint: Option<String>,
    /// A signal sent to the program once every boundary is injected or the budget ran out.
    #[arg(long, value_name = "SIGNAL")]
    when_done: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The program and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    command: Vec<std::ffi::OsString>,
}

/// Runs `inject`.
fn inject(a: InjectArgs) -> Result<ExitStatus, Error> {
    let signal =
        |s: &str| lc::parse_signal(s).ok_or_else(|| Error::Usage(format!("unknown signal `{s}`")));
    let mut opts = lc::InjectOptions::default();
    opts.function = a.function;
    opts.time_budget = match a.time_budget {
        Some(t) if t.is_finite() && t >= 0.0 => Some(std::time::Duration::from_secs_f64(t)),
        Some(t) => return Err(Error::Usage(format!("--time-budget {t}: not a duration"))),
        None => None,
    };
    opts.every_visit = a.every_visit;
    opts.signal = signal(&a.signal)?;
    opts.checkpoint = a.checkpoint;
    opts.when_done = a.when_done.as_deref().map(signal).transpose()?;
    cli::inject(&a.command, opts, a.json)
}

/// Runs `asm --diff OLD NEW`.
fn asm_diff(
    files: &[PathBuf],
    function: Option<&str>,
    color: ColorChoice,
    json: bool,
) -> Result<ExitStatus, Error> {
    let [old, new] = files else {
        return Err(Error::Usage("asm --diff takes two files: OLD NEW".into()));
    };
    let diff = lc::diff_files(old, new, function)?;
    cli::print(&diff, format(json), color)
}

/// Options shared by the commands that model a program start.
#[derive(Debug, Args)]
struct LoadArgs {
    /// The program (or shared object) to analyse.
    elf: PathBuf,
    /// A library to preload (as LD_PRELOAD; repeatable, or a space/colon separated list).
    #[arg(long)]
    preload: Vec<String>,
    /// An ld.so.preload file whose entries are preloaded after --preload.
    #[arg(long)]
    preload_file: Option<PathBuf>,
    /// A directory searched as LD_LIBRARY_PATH (repeatable).
    #[arg(long = "library-path")]
    library_path: Vec<String>,
    /// Analyse as installed under this root directory.
    #[arg(long)]
    sysroot: Option<PathBuf>,
    /// Secure (set-user-ID) mode.
    #[arg(long)]
    secure: bool,
    /// LD_DYNAMIC_WEAK: weak definitions do not end a lookup.
    #[arg(long)]
    dynamic_weak: bool,
    /// The ld.so.cache file to read (default /etc/ld.so.cache under the sysroot).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Simulate dlopen of a module after start-up: PATH or PATH:local|global|deepbind.
    #[arg(long)]
    dlopen: Vec<String>,
    /// Leave out the kernel's vDSO.
    #[arg(long)]
    no_vdso: bool,
    /// GLIBC_TUNABLES of the program's environment (glibc.pthread.rseq=0 turns off glibc's
    /// own rseq registration).
    #[arg(long)]
    glibc_tunables: Option<String>,
    /// Model `ldd -r` (trace mode: the dynamic loader does not relocate itself).
    #[arg(long)]
    ldd: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl LoadArgs {
    fn options(&self) -> Result<Options, Error> {
        let dlopen = self
            .dlopen
            .iter()
            .map(|d| cli::parse_dlopen(d))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Options {
            preload: self
                .preload
                .iter()
                .flat_map(|p| Options::split_preload(p))
                .collect(),
            preload_file: self.preload_file.clone(),
            library_path: self.library_path.clone(),
            sysroot: self.sysroot.clone(),
            secure: self.secure,
            dynamic_weak: self.dynamic_weak,
            cache: self.cache.clone(),
            dlopen,
            vdso: !self.no_vdso,
            trace: self.ldd,
            glibc_tunables: self.glibc_tunables.clone(),
        })
    }

    fn format(&self, default: Format) -> Format {
        if self.json {
            Format::Json
        } else {
            default
        }
    }

    fn load(&self) -> Result<Process, Error> {
        cli::load(&self.elf, &self.options()?)
    }
}

fn format(json: bool) -> Format {
    if json {
        Format::Json
    } else {
        Format::Human
    }
}

fn run(args: Cli) -> Result<ExitStatus, Error> {
    match args.command {
        None => cli::demo(),
        Some(Command::Resolve { load, symbol }) => {
            let p = load.load()?;
            cli::print(
                &lc::resolve(&p, &symbol),
                load.format(Format::Human),
                ColorChoice::Auto,
            )
        }
        Some(Command::Bindings { load }) => {
            let p = load.load()?;
            cli::print(
                &lc::bindings(&p),
                load.format(Format::Human),
                ColorChoice::Auto,
            )
        }
        Some(Command::Check {
            load,
            kernel_feature_size,
            kernel_align,
        }) => {
            let p = load.load()?;
            let this = lc::KernelRseq::this_machine();
            let kernel = lc::KernelRseq {
                feature_size: kernel_feature_size.unwrap_or(this.feature_size),
                align: kernel_align.unwrap_or(this.align),
            };
            cli::print(
                &lc::check_for_kernel(&p, kernel),
                load.format(Format::Human),
                ColorChoice::Auto,
            )
        }
        Some(Command::Graph { load, symbol }) => {
            let p = load.load()?;
            cli::print(
                &lc::graph(&p, &symbol),
                load.format(Format::Dot),
                ColorChoice::Auto,
            )
        }
        Some(Command::Verify { elf, json }) => {
            let report = lc::verify_file(&elf)?;
            cli::print(&report, format(json), ColorChoice::Auto)
        }
        Some(Command::Asm {
            elf,
            diff,
            function,
            color,
            json,
        }) => {
            if let Some(files) = diff {
                return asm_diff(&files, function.as_deref(), color, json);
            }
            let elf = elf.ok_or_else(|| Error::Usage("asm: no ELF file".into()))?;
            let listing = lc::listing_for_file(&elf, function.as_deref())?;
            cli::print(&listing, format(json), color)
        }
        Some(Command::Predict {
            symbol,
            rules,
            cc,
            json,
            args,
        }) => {
            let report = lc::predict_command(&args, &symbol, rules.as_deref(), &cc)?;
            cli::print(&report, format(json), ColorChoice::Auto)
        }
        Some(Command::Inject(a)) => inject(a),
        Some(Command::Explain { code, json }) => cli::print(
            &lc::explain(code.as_deref())?,
            format(json),
            ColorChoice::Auto,
        ),
    }
}

fn main() -> ExitCode {
    let args = match Cli::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors; every other parse error is a usage error.
            return if e.use_stderr() {
                ExitCode::from(ExitStatus::Usage.code() as u8)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(args) {
        Ok(status) => ExitCode::from(status.code() as u8),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_status().code() as u8)
        }
    }
}
