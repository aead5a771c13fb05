//! Abort injection on a running program (`rseq-link-check inject`, x86_64): the program
//! runs under `ptrace`, and at each instruction boundary of each of its critical sections
//! the thread that reaches it is stopped and an rseq abort is provoked there.
//!
//! # Algorithm
//!
//! 1. The program starts traced (`PTRACE_TRACEME`); every thread it creates is traced too
//!    (`PTRACE_O_TRACECLONE`). The files mapped executable in `/proc/PID/maps` are read
//!    ([`sections`]): each file's critical sections through its descriptors, relocated by
//!    the file's load bias. The maps are read again whenever the dynamic loader calls
//!    `_dl_debug_state` (its `r_brk` breakpoint, hit after every change to the link map:
//!    start-up libraries and `dlopen` alike), so sections of objects loaded later are found
//!    and those of unloaded ones are dropped.
//! 2. An `int3` is written at each boundary still to be injected. When a thread stops on
//!    one, the original byte is put back, the thread is left before the instruction at
//!    that boundary, and breakpoints are written at the section's `abort_ip`,
//!    `post_commit_ip` and declared exits. The thread is resumed: for an
//!    [`Injection::Preempt`] with no signal (the ptrace stop scheduled it out), for an
//!    [`Injection::Signal`] with a signal the program handles or ignores (checked in
//!    `/proc/PID/status` before each injection; a signal that would kill the program is
//!    not sent). The kernel's rseq fix-up on the way back to user space must move the
//!    thread to `abort_ip`: its next stop must be the breakpoint there, and anything else
//!    is an [`InjectFailure::NotAborted`].
//! 3. Then nothing more is injected until that thread has settled: until it leaves the
//!    section through `post_commit_ip` or an exit (the retry completed), or, with a
//!    checkpoint, until it calls the checkpoint function (where the program checks its
//!    state). So when the program fails, the last injection is the one that broke it.
//! 4. By default each boundary gets one injection of each kind and its breakpoint is then
//!    removed. With `every_visit` one boundary per section is armed at a time and moves
//!    on after each injection there (preemption and signal alternating), or when a visit
//!    reaches `post_commit_ip` or an exit without passing it (a branch skipped it): every
//!    visit that reaches the armed boundary is injected, round after round.
//!
//! A process the program forks is stopped at birth, the breakpoints are taken out of its
//! copy of the memory, and it runs on untraced (a `vfork` child shares the memory and the
//! breakpoints: it must not run a critical section before its `exec`).
//!
//! Breakpoint hits of other threads at addresses no longer armed are rewound and resumed;
//! armed ones not to be injected are stepped over. The program's own signals are
//! delivered unchanged. The program decides correctness: its exit status and its own
//! assertions. Stops of one thread are handled one at a time (the others stay stopped
//! until their turn), which serialises injections.

mod campaign;
mod ptrace;
pub mod sections;

use std::ffi::OsString;
use std::time::Duration;

use serde::Serialize;

pub use campaign::inject;
pub use sections::{sections_of, Section};

use crate::error::ExitStatus;

/// How a thread is disturbed at a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Injection {
    /// The ptrace stop alone (the thread is scheduled out: an rseq preemption event).
    Preempt,
    /// The ptrace stop, then a signal delivered on resume.
    Signal,
}

impl Injection {
    /// Both, in the order they are injected at a boundary.
    pub const ALL: [Injection; 2] = [Injection::Preempt, Injection::Signal];

    /// `preempt` or `signal`.
    pub fn name(self) -> &'static str {
        match self {
            Injection::Preempt => "preempt",
            Injection::Signal => "signal",
        }
    }
}

/// What to inject and when (`rseq-link-check inject` options).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InjectOptions {
    /// Only sections in functions whose demangled name contains this (as `asm --function`).
    pub function: Option<String>,
    /// Stop injecting after this long (the program then runs on untouched).
    pub time_budget: Option<Duration>,
    /// Inject at every visit instead of once per boundary and kind.
    pub every_visit: bool,
    /// The signal of [`Injection::Signal`] (default `SIGURG`, ignored unless handled).
    pub signal: i32,
    /// A function the program calls where it checks its state: after an injection, inject
    /// nothing more until the injected thread calls it.
    pub checkpoint: Option<String>,
    /// A signal sent to the program once every boundary of every section has been
    /// injected (or the time budget ran out), for programs that run until told to stop.
    pub when_done: Option<i32>,
    /// Extra environment of the program.
    pub env: Vec<(OsString, OsString)>,
    /// Capture the program's standard output and error into the report instead of
    /// passing them through.
    pub capture_output: bool,
    /// Print a progress line on standard error.
    pub progress: bool,
    /// Send the program's standard output to this process's standard error (so that
    /// standard output carries only the report, as with `--json`).
    pub stdout_to_stderr: bool,
}

impl Default for InjectOptions {
    fn default() -> Self {
        InjectOptions {
            function: None,
            time_budget: None,
            every_visit: false,
            signal: libc::SIGURG,
            checkpoint: None,
            when_done: None,
            env: Vec::new(),
            capture_output: false,
            progress: false,
            stdout_to_stderr: false,
        }
    }
}

/// Coverage of one instruction boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BoundaryCoverage {
    /// Its link-time address.
    pub addr: u64,
    /// Its offset from `start_ip`.
    pub offset: u64,
    /// Times a thread stopped there while it was armed.
    pub reached: u64,
    /// Preemptions injected there (each confirmed at `abort_ip`).
    pub preempt: u64,
    /// Signals injected there (each confirmed at `abort_ip`).
    pub signal: u64,
}

impl BoundaryCoverage {
    /// Injections of `kind` there.
    pub fn injected(&self, kind: Injection) -> u64 {
        match kind {
            Injection::Preempt => self.preempt,
            Injection::Signal => self.signal,
        }
    }
}

/// Coverage of one critical section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionCoverage {
    /// The file that holds it.
    pub module: String,
    /// The function that holds it (demangled), when the file's symbols say.
    pub function: Option<String>,
    /// `start_ip` (link-time).
    pub start_ip: u64,
    /// `post_commit_ip` (link-time).
    pub post_commit_ip: u64,
    /// `abort_ip` (link-time).
    pub abort_ip: u64,
    /// Every instruction boundary.
    pub boundaries: Vec<BoundaryCoverage>,
}

impl SectionCoverage {
    /// Whether any thread reached any boundary of it.
    pub fn entered(&self) -> bool {
        self.boundaries.iter().any(|b| b.reached > 0)
    }

    /// Boundaries reached.
    pub fn reached(&self) -> usize {
        self.boundaries.iter().filter(|b| b.reached > 0).count()
    }

    /// Boundaries with at least one injection of `kind`.
    pub fn injected(&self, kind: Injection) -> usize {
        self.boundaries
            .iter()
            .filter(|b| b.injected(kind) > 0)
            .count()
    }

    /// `function+offset` (or the address) of the boundary at link-time `addr`.
    pub fn place(&self, addr: u64) -> String {
        let offset = addr.wrapping_sub(self.start_ip);
        match &self.function {
            Some(f) => format!("{f}: start+{offset:#x} ({addr:#x})"),
            None => format!(
                "section {:#x}: start+{offset:#x} ({addr:#x})",
                self.start_ip
            ),
        }
    }
}

/// One injection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectionPoint {
    /// Index of the section in [`InjectReport::sections`].
    pub section: usize,
    /// The section's `start_ip` (link-time).
    pub start_ip: u64,
    /// The boundary (link-time).
    pub boundary: u64,
    /// What was injected.
    pub kind: Injection,
    /// The thread.
    pub thread: i32,
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProgramExit {
    /// It exited with this status.
    Exited(i32),
    /// A signal killed it.
    Killed(i32),
}

impl ProgramExit {
    /// Exited with status 0.
    pub fn success(self) -> bool {
        self == ProgramExit::Exited(0)
    }
}

impl std::fmt::Display for ProgramExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProgramExit::Exited(s) => write!(f, "exit status {s}"),
            ProgramExit::Killed(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// An injection that did not end at `abort_ip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum InjectFailure {
    /// After the injection the thread stopped somewhere else first (link-time address of
    /// the section's `post_commit_ip` or exit it reached).
    NotAborted {
        /// The injection.
        at: InjectionPoint,
        /// Where the thread stopped.
        stopped_at: u64,
    },
}

/// The result of a campaign.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct InjectReport {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// How it ended.
    pub exit: ProgramExit,
    /// Every critical section of every file it mapped (filtered by function).
    pub sections: Vec<SectionCoverage>,
    /// The last injection before the end (or the failure).
    pub last_injection: Option<InjectionPoint>,
    /// What went wrong with an injection, if anything.
    pub failure: Option<InjectFailure>,
    /// Signals injected.
    pub signals_injected: u64,
    /// Signal injections left out because the program neither handled nor ignored the
    /// signal.
    pub signals_skipped: u64,
    /// Whether the time budget ran out.
    pub budget_exhausted: bool,
    /// Threads traced.
    pub threads: usize,
    /// The program's standard output, when captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The program's standard error, when captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

impl InjectReport {
    /// Instruction boundaries of all sections.
    pub fn points(&self) -> usize {
        self.sections.iter().map(|s| s.boundaries.len()).sum()
    }

    /// Boundaries with at least one injection of `kind`.
    pub fn covered(&self, kind: Injection) -> usize {
        self.sections.iter().map(|s| s.injected(kind)).sum()
    }

    /// Reached boundaries missing an injection of some kind.
    pub fn uninjected(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|s| &s.boundaries)
            .filter(|b| b.reached > 0 && Injection::ALL.iter().any(|&k| b.injected(k) == 0))
            .count()
    }

    /// `function: start+offset (addr) [kind]` of an injection.
    pub fn describe(&self, at: &InjectionPoint) -> String {
        let place = match self.sections.get(at.section) {
            Some(s) => format!("{} in {}", s.place(at.boundary), s.module),
            None => format!("{:#x}", at.boundary),
        };
        format!("{} injection at {place}", at.kind.name())
    }
}

impl crate::report::Outcome for InjectReport {
    /// Clean when the program succeeded, every injection ended at `abort_ip` and every
    /// boundary reached got every kind of injection.
    fn exit_status(&self) -> ExitStatus {
        if self.exit.success() && self.failure.is_none() && self.uninjected() == 0 {
            ExitStatus::Clean
        } else {
            ExitStatus::Findings
        }
    }
}

/// Parses a signal as `inject --signal` takes it: a number, a name with or without `SIG`
/// (`SIGURG`, `usr1`), or `SIGRTMIN+N` / `RTMIN+N`.
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let k: i32 = match rest.strip_prefix('+') {
            Some(k) => k.parse().ok()?,
            None if rest.is_empty() => 0,
            None => return None,
        };
        let n = libc::SIGRTMIN().checked_add(k)?;
        return (n <= libc::SIGRTMAX()).then_some(n);
    }
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "URG" => libc::SIGURG,
        "WINCH" => libc::SIGWINCH,
        "IO" => libc::SIGIO,
        "PROF" => libc::SIGPROF,
        "VTALRM" => libc::SIGVTALRM,
        _ => return None,
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_number_and_name() {
        assert_eq!(parse_signal("SIGURG"), Some(libc::SIGURG));
        assert_eq!(parse_signal("usr1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("10"), Some(10));
        assert_eq!(parse_signal("SIGRTMIN+2"), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse_signal("SIGKILLME"), None);
        assert_eq!(parse_signal("0"), None);
    }
}
