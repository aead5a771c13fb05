//! Deterministic abort injection under ptrace (x86_64).
//!
//! The tracee is a single-threaded program that loops over critical sections and checks
//! after every operation that it took effect exactly once. The harness reads the
//! program's critical sections from its own ELF file through the descriptors
//! (`__rseq_cs_ptr_array` / `__rseq_cs`, with `rseq_link_check::verify`), relocates them by
//! the load bias from `/proc/PID/maps`, and decodes each `[start_ip, post_commit_ip)` with
//! iced-x86 to list its instruction boundaries. Then, for every boundary `k` of every
//! section, and once per [`Injection`]:
//!
//! 1. it writes an `int3` at `k` (`PTRACE_POKETEXT`) and lets the tracee run until it stops
//!    there, then puts the original byte back and the instruction pointer on `k`: the
//!    thread is now stopped (scheduled out) inside the section, before the instruction at
//!    `k` ran;
//! 2. it writes `int3` at the section's `abort_ip`, at its `post_commit_ip` and at its
//!    declared exits, and resumes the thread ([`Injection::Signal`]: with `SIGUSR1`,
//!    which the tracee handles). The kernel's rseq fixup on the way back to user space
//!    must move the thread to `abort_ip`, so the next stop must be the `int3` there: the
//!    abort handler runs and the rest of the section, commit included, does not;
//! 3. it removes those breakpoints and lets the tracee run to its next checkpoint (the
//!    function `rseq_tracee_checkpoint`, called after each checked operation), so the
//!    retry has completed and the tracee's own checks have seen whether the operation
//!    was done exactly once before the next injection.
//!
//! At the end it stops the tracee with `SIGUSR2` and requires a clean exit whose report
//! counts exactly the signals injected.
//!
//! # Safety
//!
//! Uses `unsafe` for `ptrace`, `waitpid`, `kill` and the `pre_exec` hook; each block says
//! why it holds.
#![allow(unsafe_code, dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iced_x86::{Decoder, DecoderOptions};
use object::{Object, ObjectSegment};
use rseq_link_check::__fuzz::verify::descriptor::discover;
use rseq_link_check::__fuzz::verify::Image;

/// How the thread is disturbed at a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// The ptrace stop alone (the task is scheduled out: an rseq preemption event).
    Preempt,
    /// The ptrace stop, then `SIGUSR1` delivered on resume.
    Signal,
}

impl Injection {
    /// Both.
    pub const ALL: [Injection; 2] = [Injection::Preempt, Injection::Signal];
}

/// One critical section of the tracee, at its link-time addresses.
#[derive(Debug, Clone)]
pub struct Section {
    /// `start_ip`.
    pub start: u64,
    /// `start_ip + post_commit_offset`.
    pub post_commit: u64,
    /// `abort_ip`.
    pub abort: u64,
    /// Declared exits of the section.
    pub exits: Vec<u64>,
    /// Instruction boundaries in `[start, post_commit)`.
    pub boundaries: Vec<u64>,
    /// The function that contains it, when the symbol table says.
    pub function: Option<String>,
}

/// What a campaign covered.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Critical sections found through the descriptors.
    pub sections: usize,
    /// (section, boundary) points.
    pub points: usize,
    /// Points where a preemption was injected and verified, per injection kind.
    pub covered: BTreeMap<&'static str, usize>,
    /// Rounds the tracee ran.
    pub rounds: u64,
    /// Signals the tracee handled.
    pub signals: u64,
    /// The tracee's report line(s).
    pub output: String,
}

/// Why a campaign failed.
#[derive(Debug)]
pub enum Failure {
    /// The harness could not set up or drive the tracee.
    Setup(String),
    /// After an injection the thread did not go to `abort_ip` first.
    NotAborted {
        /// Section start.
        section: u64,
        /// The boundary.
        k: u64,
        /// Where the thread stopped instead (link-time address).
        stopped_at: u64,
        /// Injection kind.
        injection: Injection,
    },
    /// The tracee never reached a boundary.
    Unreached {
        /// Section start.
        section: u64,
        /// The boundary.
        k: u64,
    },
    /// The tracee reported a broken invariant (or died) after an injection.
    Invariant {
        /// The last injection point, if any.
        after: Option<(u64, u64, Injection)>,
        /// The tracee's exit status.
        status: String,
        /// Its output.
        output: String,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Setup(s) => write!(f, "setup: {s}"),
            Failure::NotAborted {
                section,
                k,
                stopped_at,
                injection,
            } => write!(
                f,
                "section {section:#x}: after a {injection:?} injection at {k:#x} the thread stopped at {stopped_at:#x}, not at abort_ip"
            ),
            Failure::Unreached { section, k } => {
                write!(f, "section {section:#x}: boundary {k:#x} never reached")
            }
            Failure::Invariant {
                after,
                status,
                output,
            } => {
                write!(f, "tracee failed ({status})")?;
                if let Some((s, k, i)) = after {
                    write!(f, " after a {i:?} injection at {k:#x} in section {s:#x}")?;
                }
                write!(f, ":\n{output}")
            }
        }
    }
}

/// Reads the critical sections of the ELF file at `exe`.
pub fn sections_of(exe: &Path) -> Result<Vec<Section>, String> {
    let data = std::fs::read(exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let image = Image::parse(exe, &data).map_err(|e| e.to_string())?;
    let found = discover(&image);
    let mut out = Vec::new();
    for d in found.descriptors.values() {
        let post = d
            .post_commit_ip()
            .ok_or_else(|| format!("descriptor {:#x}: post_commit_ip wraps", d.addr))?;
        let len = usize::try_from(d.post_commit_offset).map_err(|e| e.to_string())?;
        let bytes = image
            .bytes(d.start_ip, len)
            .ok_or_else(|| format!("section {:#x}: bytes not in the file", d.start_ip))?;
        let mut decoder = Decoder::with_ip(64, bytes, d.start_ip, DecoderOptions::NONE);
        let mut boundaries = Vec::new();
        while decoder.can_decode() {
            let insn = decoder.decode();
            if insn.is_invalid() {
                return Err(format!(
                    "section {:#x}: undecodable at {:#x}",
                    d.start_ip,
                    insn.ip()
                ));
            }
            boundaries.push(insn.ip());
        }
        let exits = found
            .exits
            .iter()
            .filter(|e| e.start_ip == d.start_ip)
            .map(|e| e.exit_ip)
            .collect();
        out.push(Section {
            start: d.start_ip,
            post_commit: post,
            abort: d.abort_ip,
            exits,
            boundaries,
            function: image
                .symbolize(d.start_ip)
                .map(|(s, _)| rseq_link_check::__fuzz::verify::demangle(&s.name)),
        });
    }
    Ok(out)
}

/// The function the tracee calls after each checked operation (`#[no_mangle]`).
pub const CHECKPOINT: &str = "rseq_tracee_checkpoint";

/// The address of the symbol `name` in the ELF file at `exe`.
pub fn symbol_address(exe: &Path, name: &str) -> Result<u64, String> {
    let data = std::fs::read(exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let image = Image::parse(exe, &data).map_err(|e| e.to_string())?;
    image
        .symbols
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.addr)
        .ok_or_else(|| format!("{}: no symbol {name}", exe.display()))
}

/// The first loadable segment's address in the file (the load bias is relative to it).
fn first_load_vaddr(exe: &Path) -> Result<u64, String> {
    let data = std::fs::read(exe).map_err(|e| e.to_string())?;
    let file = object::File::parse(&*data).map_err(|e| e.to_string())?;
    file.segments()
        .map(|s| s.address())
        .min()
        .ok_or_else(|| "no loadable segment".to_string())
}

/// The address `exe` is mapped at (its mapping of file offset 0) in process `pid`.
fn map_base(pid: i32, exe: &Path) -> Result<u64, String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| e.to_string())?;
    let exe = std::fs::canonicalize(exe).map_err(|e| e.to_string())?;
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() >= 6 && Path::new(fields[5]) == exe && fields[2] == "00000000" {
            let start = fields[0].split('-').next().unwrap_or("");
            return u64::from_str_radix(start, 16).map_err(|e| e.to_string());
        }
    }
    Err(format!("{} is not mapped in process {pid}", exe.display()))
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// A stopped or exited tracee, as `waitpid` reports it.
enum Event {
    Stopped(i32),
    Exited(String),
}

/// A traced child process.
struct Tracee {
    child: Child,
    pid: i32,
    exe: PathBuf,
    bias: u64,
    /// Deadline (ms since `epoch`) after which the watchdog kills the tracee.
    deadline: Arc<AtomicU64>,
    epoch: Instant,
    done: Arc<AtomicBool>,
}

impl Tracee {
    fn spawn(exe: &Path, vars: &[(&str, &str)]) -> Result<Tracee, String> {
        let mut cmd = Command::new(exe);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.envs(vars.iter().copied());
        // SAFETY: the hook runs in the child between fork and exec and only calls ptrace,
        // which is async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", exe.display()))?;
        let pid = child.id() as i32;
        let deadline = Arc::new(AtomicU64::new(u64::MAX));
        let done = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        {
            let (deadline, done) = (deadline.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    if epoch.elapsed().as_millis() as u64 > deadline.load(Ordering::Acquire) {
                        // SAFETY: kill with our child's pid; at worst it already exited
                        // and was not yet reaped (the pid cannot be reused before that).
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        let mut t = Tracee {
            child,
            pid,
            exe: exe.to_owned(),
            bias: 0,
            deadline,
            epoch,
            done,
        };
        t.arm(Duration::from_secs(20));
        // The exec stop.
        match t.wait()? {
            Event::Stopped(libc::SIGTRAP) => {}
            Event::Stopped(s) => return Err(format!("first stop with signal {s}")),
            Event::Exited(s) => return Err(format!("tracee exited at exec: {s}")),
        }
        // SAFETY: PTRACE_SETOPTIONS on our stopped tracee with an integer option mask.
        if unsafe {
            libc::ptrace(
                libc::PTRACE_SETOPTIONS,
                pid,
                0,
                libc::PTRACE_O_EXITKILL as libc::c_long,
            )
        } != 0
        {
            return Err(format!("PTRACE_SETOPTIONS: {}", errno()));
        }
        Ok(t)
    }

    /// (Re)starts the watchdog for an operation that must finish within `limit`.
    fn arm(&mut self, limit: Duration) {
        let at = self.epoch.elapsed() + limit;
        self.deadline
            .store(at.as_millis() as u64, Ordering::Release);
    }

    fn wait(&mut self) -> Result<Event, String> {
        let mut status = 0;
        // SAFETY: waitpid on our child with a valid status pointer.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL) };
        if r != self.pid {
            return Err(format!("waitpid: {}", errno()));
        }
        if libc::WIFSTOPPED(status) {
            Ok(Event::Stopped(libc::WSTOPSIG(status)))
        } else if libc::WIFEXITED(status) {
            Ok(Event::Exited(format!(
                "exit status {}",
                libc::WEXITSTATUS(status)
            )))
        } else if libc::WIFSIGNALED(status) {
            Ok(Event::Exited(format!(
                "killed by signal {}",
                libc::WTERMSIG(status)
            )))
        } else {
            Ok(Event::Exited(format!("wait status {status:#x}")))
        }
    }

    fn cont(&self, signal: i32) -> Result<(), String> {
        // SAFETY: PTRACE_CONT on our stopped tracee; `signal` is 0 or a valid signal.
        if unsafe { libc::ptrace(libc::PTRACE_CONT, self.pid, 0, signal as libc::c_long) } != 0 {
            return Err(format!("PTRACE_CONT: {}", errno()));
        }
        Ok(())
    }

    fn regs(&self) -> Result<libc::user_regs_struct, String> {
        // SAFETY: a zeroed user_regs_struct is valid plain data.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        // SAFETY: PTRACE_GETREGS writes one user_regs_struct to the pointer given.
        if unsafe {
            libc::ptrace(
                libc::PTRACE_GETREGS,
                self.pid,
                0,
                &mut regs as *mut libc::user_regs_struct,
            )
        } != 0
        {
            return Err(format!("PTRACE_GETREGS: {}", errno()));
        }
        Ok(regs)
    }

    fn set_rip(&self, rip: u64) -> Result<(), String> {
        let mut regs = self.regs()?;
        regs.rip = rip;
        // SAFETY: PTRACE_SETREGS reads one user_regs_struct from the pointer given.
        if unsafe {
            libc::ptrace(
                libc::PTRACE_SETREGS,
                self.pid,
                0,
                &regs as *const libc::user_regs_struct,
            )
        } != 0
        {
            return Err(format!("PTRACE_SETREGS: {}", errno()));
        }
        Ok(())
    }

    fn peek(&self, addr: u64) -> Result<u64, String> {
        // SAFETY: clearing errno, then PTRACE_PEEKTEXT on our stopped tracee (the result is
        // the word; errno tells a failure from a word that reads -1).
        unsafe {
            *libc::__errno_location() = 0;
            let w = libc::ptrace(libc::PTRACE_PEEKTEXT, self.pid, addr, 0);
            if w == -1 && *libc::__errno_location() != 0 {
                return Err(format!("PTRACE_PEEKTEXT {addr:#x}: {}", errno()));
            }
            Ok(w as u64)
        }
    }

    fn poke(&self, addr: u64, word: u64) -> Result<(), String> {
        // SAFETY: PTRACE_POKETEXT on our stopped tracee writes one word of its text.
        if unsafe { libc::ptrace(libc::PTRACE_POKETEXT, self.pid, addr, word) } != 0 {
            return Err(format!("PTRACE_POKETEXT {addr:#x}: {}", errno()));
        }
        Ok(())
    }

    /// Writes byte `b` at `addr`, returning the byte that was there.
    fn write_byte(&self, addr: u64, b: u8) -> Result<u8, String> {
        let w = self.peek(addr)?;
        self.poke(addr, (w & !0xff) | u64::from(b))?;
        Ok(w as u8)
    }

    fn finish(mut self) -> (String, String) {
        self.done.store(true, Ordering::Release);
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        (out, err)
    }
}

impl Drop for Tracee {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Breakpoints inserted together, removed in reverse order.
struct Breakpoints(Vec<(u64, u8)>);

impl Breakpoints {
    fn insert(t: &Tracee, addrs: &[u64]) -> Result<Breakpoints, String> {
        let mut bps = Breakpoints(Vec::new());
        for &a in addrs {
            if bps.0.iter().any(|&(b, _)| b == a) {
                continue;
            }
            let orig = t.write_byte(a, 0xcc)?;
            bps.0.push((a, orig));
        }
        Ok(bps)
    }

    fn remove(self, t: &Tracee) -> Result<(), String> {
        for &(a, orig) in self.0.iter().rev() {
            t.write_byte(a, orig)?;
        }
        Ok(())
    }
}

/// Runs the tracee `exe` (with the extra environment `vars`) and injects an abort at every
/// instruction boundary of every critical section, once per [`Injection`].
pub fn inject_everywhere(exe: &Path, vars: &[(&str, &str)]) -> Result<Coverage, Failure> {
    let setup = Failure::Setup;
    let sections = sections_of(exe).map_err(setup)?;
    let checkpoint = symbol_address(exe, CHECKPOINT).map_err(setup)?;
    if sections.is_empty() {
        return Err(Failure::Setup(format!(
            "{}: no critical section",
            exe.display()
        )));
    }
    let mut t = Tracee::spawn(exe, vars).map_err(setup)?;
    t.bias = map_base(t.pid, exe)
        .and_then(|base| first_load_vaddr(exe).map(|v| base - (v & !0xfff)))
        .map_err(setup)?;
    let bias = t.bias;
    let mut coverage = Coverage {
        sections: sections.len(),
        points: sections.iter().map(|s| s.boundaries.len()).sum(),
        ..Coverage::default()
    };
    let mut last: Option<(u64, u64, Injection)> = None;
    let mut signals_sent = 0u64;

    // The tracee died: a broken invariant (it prints it) or a crash.
    let died = |t: Tracee, status: String, last| {
        let (out, err) = t.finish();
        Failure::Invariant {
            after: last,
            status,
            output: format!("{out}{err}"),
        }
    };

    for injection in Injection::ALL {
        let mut covered = 0usize;
        for s in &sections {
            for &k in &s.boundaries {
                t.arm(Duration::from_secs(10));
                // 1. Stop the thread at k.
                let bp = Breakpoints::insert(&t, &[k + bias]).map_err(setup)?;
                t.cont(0).map_err(setup)?;
                loop {
                    match t.wait().map_err(setup)? {
                        Event::Stopped(libc::SIGTRAP) => break,
                        // Anything else (a signal of the tracee's own): deliver it.
                        Event::Stopped(sig) => t.cont(sig).map_err(setup)?,
                        Event::Exited(status) => {
                            if status.contains("signal 9") {
                                return Err(Failure::Unreached {
                                    section: s.start,
                                    k,
                                });
                            }
                            return Err(died(t, status, last));
                        }
                    }
                }
                let rip = t.regs().map_err(setup)?.rip;
                if rip != k + bias + 1 {
                    return Err(Failure::Setup(format!(
                        "expected the trap at {k:#x}, the thread is at {:#x}",
                        rip.wrapping_sub(bias)
                    )));
                }
                bp.remove(&t).map_err(setup)?;
                t.set_rip(k + bias).map_err(setup)?;
                last = Some((s.start, k, injection));

                // 2. Resume: the next stop must be abort_ip.
                let mut watch = vec![s.abort + bias, s.post_commit + bias];
                watch.extend(s.exits.iter().map(|e| e + bias));
                let bp = Breakpoints::insert(&t, &watch).map_err(setup)?;
                let sig = match injection {
                    Injection::Preempt => 0,
                    Injection::Signal => {
                        signals_sent += 1;
                        libc::SIGUSR1
                    }
                };
                t.cont(sig).map_err(setup)?;
                loop {
                    match t.wait().map_err(setup)? {
                        Event::Stopped(libc::SIGTRAP) => break,
                        Event::Stopped(sig) => t.cont(sig).map_err(setup)?,
                        Event::Exited(status) => return Err(died(t, status, last)),
                    }
                }
                let at = t.regs().map_err(setup)?.rip - 1;
                if at != s.abort + bias {
                    return Err(Failure::NotAborted {
                        section: s.start,
                        k,
                        stopped_at: at.wrapping_sub(bias),
                        injection,
                    });
                }
                // 3. Let the abort handler and the retry run, up to the tracee's next
                // checkpoint: the interrupted operation is then complete and checked.
                bp.remove(&t).map_err(setup)?;
                t.set_rip(at).map_err(setup)?;
                let bp = Breakpoints::insert(&t, &[checkpoint + bias]).map_err(setup)?;
                t.cont(0).map_err(setup)?;
                loop {
                    match t.wait().map_err(setup)? {
                        Event::Stopped(libc::SIGTRAP) => break,
                        Event::Stopped(sig) => t.cont(sig).map_err(setup)?,
                        Event::Exited(status) => return Err(died(t, status, last)),
                    }
                }
                let at = t.regs().map_err(setup)?.rip - 1;
                if at != checkpoint + bias {
                    return Err(Failure::Setup(format!(
                        "expected the checkpoint, the thread stopped at {:#x}",
                        at.wrapping_sub(bias)
                    )));
                }
                bp.remove(&t).map_err(setup)?;
                t.set_rip(at).map_err(setup)?;
                covered += 1;
            }
        }
        coverage.covered.insert(
            match injection {
                Injection::Preempt => "preempt",
                Injection::Signal => "signal",
            },
            covered,
        );
    }

    // Stop the loop, let the final checks run.
    t.arm(Duration::from_secs(20));
    // SAFETY: kill with our stopped child's pid.
    unsafe { libc::kill(t.pid, libc::SIGUSR2) };
    t.cont(0).map_err(setup)?;
    let status = loop {
        match t.wait().map_err(setup)? {
            Event::Stopped(sig) => t.cont(sig).map_err(setup)?,
            Event::Exited(status) => break status,
        }
    };
    let (out, err) = t.finish();
    if status != "exit status 0" {
        return Err(Failure::Invariant {
            after: last,
            status,
            output: format!("{out}{err}"),
        });
    }
    let field = |name: &str| -> Option<u64> {
        out.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
    };
    coverage.rounds = field("rounds=").unwrap_or(0);
    coverage.signals = field("signals=").unwrap_or(u64::MAX);
    coverage.output = out.clone();
    if coverage.signals != signals_sent {
        return Err(Failure::Invariant {
            after: last,
            status: format!(
                "{signals_sent} signals injected, the tracee handled {}",
                coverage.signals
            ),
            output: out,
        });
    }
    Ok(coverage)
}
