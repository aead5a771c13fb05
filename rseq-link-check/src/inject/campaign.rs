//! The injection loop over one traced program (see the algorithm in [`super`]): its
//! breakpoints, the stops of its threads one at a time, and the report it fills in.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ptrace::{self, Event, Memory};
use super::sections::{self, Mapped};
use super::{
    InjectFailure, InjectOptions, InjectReport, Injection, InjectionPoint, ProgramExit,
    SectionCoverage,
};
use crate::error::{Error, Result};

/// The x86 breakpoint instruction.
const INT3: u8 = 0xcc;
/// The dynamic loader's `r_brk`: called after each change to the link map.
const LOADER_BREAKPOINT: &str = "_dl_debug_state";
/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What is known of a section beyond its coverage.
struct Meta {
    bias: u64,
    exits: Vec<u64>,
    module: Mapped,
    live: bool,
}

/// After an injection: the thread and the addresses that end its settling.
struct Settle {
    tid: i32,
    addrs: Vec<u64>,
}

/// Whether a traced thread can go on.
enum Step {
    /// Stopped, as expected.
    Stopped,
    /// The thread exited (the program goes on).
    Gone,
    /// The program ended.
    Ended(ProgramExit),
}

/// The state of one campaign: what is mapped, what is armed, what was covered.
struct Campaign<'o> {
    opts: &'o InjectOptions,
    /// The program as given.
    program: PathBuf,
    /// The program's file, as `/proc/PID/maps` names it.
    canonical: Option<PathBuf>,
    /// The program's process (its first thread).
    pid: i32,
    /// Its memory.
    mem: Memory,
    /// Its dynamic loader, as mapped.
    interp: Option<PathBuf>,
    /// Every section seen (the report's), and beside each what the loop needs of it.
    cov: Vec<SectionCoverage>,
    meta: Vec<Meta>,
    /// The files mapped executable at the last scan.
    modules: BTreeSet<Mapped>,
    /// Run-time address of each boundary of a live section: (section, boundary).
    boundary_at: HashMap<u64, (usize, usize)>,
    /// `every_visit`: per section, the one boundary armed next.
    cursor: Vec<usize>,
    /// `every_visit`: `post_commit_ip` and exits of live sections (a visit ended without an
    /// injection: the cursor moves on).
    visit_end: HashMap<u64, usize>,
    /// `_dl_debug_state` (run-time address).
    loader: Option<u64>,
    /// The checkpoint function (run-time address), once found.
    checkpoint: Option<u64>,
    /// Armed breakpoints: address and the byte the `int3` replaced.
    inserted: HashMap<u64, u8>,
    /// Every address ever armed and its original byte (a trap there after disarming is
    /// ours; a forked child may still have the `int3`).
    ever: HashMap<u64, u8>,
    /// The thread settling after the last injection.
    settle: Option<Settle>,
    /// No more injections (budget, or a failed one).
    stopped: bool,
    /// Set by the budget's timer.
    expired: Arc<AtomicBool>,
    /// The `when_done` signal was sent.
    done_sent: Arc<AtomicBool>,
    /// Threads of the program known so far.
    seen: HashSet<i32>,
    /// Threads traced in all.
    threads: usize,
    /// Events of other threads that came while waiting for one.
    pending: VecDeque<(i32, Event)>,
    last: Option<InjectionPoint>,
    failure: Option<InjectFailure>,
    signals_injected: u64,
    signals_skipped: u64,
    progress_at: Instant,
    /// A progress line is on the terminal.
    progress_drawn: bool,
    started: Instant,
}

/// Runs `program` with `args` under ptrace and injects aborts into its critical sections
/// as [`InjectOptions`] say; returns the coverage and how the program ended. An error
/// means the program could not be run or followed (exit status 2).
pub fn inject(program: &Path, args: &[OsString], opts: &InjectOptions) -> Result<InjectReport> {
    let fail = |what: String| Error::Trace {
        path: program.to_path_buf(),
        what,
    };
    if !cfg!(target_arch = "x86_64") {
        return Err(fail(format!(
            "abort injection is implemented for x86_64 only, not {}",
            std::env::consts::ARCH
        )));
    }
    let interp = sections::interpreter(program)
        .ok()
        .flatten()
        .and_then(|i| std::fs::canonicalize(i).ok());

    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
    if opts.capture_output {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    } else if opts.stdout_to_stderr {
        cmd.stdout(std::io::stderr());
    }
    ptrace::trace_me(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| Error::io(program, e))?;
    let pid = ptrace::pid_of(&child);
    let readers = [
        child.stdout.take().map(|s| reader(Box::new(s))),
        child.stderr.take().map(|s| reader(Box::new(s))),
    ];

    let expired = Arc::new(AtomicBool::new(false));
    let done_sent = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    if let Some(budget) = opts.time_budget {
        let (expired, done_sent, finished) = (expired.clone(), done_sent.clone(), finished.clone());
        let when_done = opts.when_done;
        std::thread::spawn(move || {
            let start = Instant::now();
            while !finished.load(Ordering::Acquire) {
                if start.elapsed() >= budget {
                    expired.store(true, Ordering::Release);
                    if let Some(sig) = when_done {
                        if !done_sent.swap(true, Ordering::AcqRel) {
                            let _ = ptrace::kill(pid, sig);
                        }
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
    }

    let result = (|| {
        // The stop at exec.
        match ptrace::wait(pid)
            .map_err(|e| fail(format!("waitpid: {e}")))?
            .1
        {
            Event::Signal(libc::SIGTRAP) => {}
            Event::Exited(s) => return Err(fail(format!("exited with status {s} at exec"))),
            other => return Err(fail(format!("unexpected first stop {other:?}"))),
        }
        ptrace::set_options(pid).map_err(|e| fail(e.to_string()))?;
        let mem = Memory::open(pid).map_err(|e| fail(format!("/proc/{pid}/mem: {e}")))?;
        let mut c = Campaign {
            opts,
            program: program.to_path_buf(),
            canonical: std::fs::canonicalize(program).ok(),
            pid,
            mem,
            interp,
            cov: Vec::new(),
            meta: Vec::new(),
            modules: BTreeSet::new(),
            boundary_at: HashMap::new(),
            cursor: Vec::new(),
            visit_end: HashMap::new(),
            loader: None,
            checkpoint: None,
            inserted: HashMap::new(),
            ever: HashMap::new(),
            settle: None,
            stopped: false,
            expired: expired.clone(),
            done_sent: done_sent.clone(),
            seen: HashSet::from([pid]),
            threads: 1,
            pending: VecDeque::new(),
            last: None,
            failure: None,
            signals_injected: 0,
            signals_skipped: 0,
            progress_at: Instant::now(),
            progress_drawn: false,
            started: Instant::now(),
        };
        let exit = c.run().map_err(|e| match e {
            Error::Trace { .. } => e,
            other => fail(other.to_string()),
        })?;
        if c.progress_drawn {
            // Clears the progress line.
            eprint!("\r\x1b[K");
        }
        Ok((c, exit))
    })();
    finished.store(true, Ordering::Release);
    let (c, exit) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    // Reaped by the loop already; this only releases the handle.
    drop(child);
    let [stdout, stderr] = readers.map(|r| r.map(|h| h.join().unwrap_or_default()));
    let mut command = vec![program.display().to_string()];
    command.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
    Ok(InjectReport {
        command,
        exit,
        sections: c.cov,
        last_injection: c.last,
        failure: c.failure,
        signals_injected: c.signals_injected,
        signals_skipped: c.signals_skipped,
        budget_exhausted: c.expired.load(Ordering::Acquire),
        threads: c.threads,
        stdout,
        stderr,
    })
}

/// Reads a pipe to its end on its own thread (the program must never block on a full
/// pipe while it is stopped).
fn reader(mut r: Box<dyn Read + Send>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = r.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The thread group (process) of thread `tid`, from `/proc/TID/status`.
fn thread_group(tid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Whether delivering `signal` leaves process `pid` alive: it handles it, ignores it, or
/// its default action is to ignore it (`/proc/PID/status`, `SigCgt` and `SigIgn`).
fn signal_is_safe(pid: i32, signal: i32) -> bool {
    if matches!(signal, libc::SIGURG | libc::SIGCHLD | libc::SIGWINCH) {
        // Default action: ignore. A handler or SIG_IGN is just as safe.
        return true;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let Some(bit) = u32::try_from(signal - 1)
        .ok()
        .and_then(|b| 1u64.checked_shl(b))
    else {
        return false;
    };
    status.lines().any(|line| {
        ["SigCgt:", "SigIgn:"].iter().any(|field| {
            line.strip_prefix(field)
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .is_some_and(|mask| mask & bit != 0)
        })
    })
}

impl Campaign<'_> {
    fn trace_err(&self, what: impl std::fmt::Display) -> Error {
        Error::Trace {
            path: self.program.clone(),
            what: what.to_string(),
        }
    }

    /// The main loop: to the end of the program.
    fn run(&mut self) -> Result<ProgramExit> {
        self.rescan()?;
        self.sync();
        ptrace::cont(self.pid, 0).map_err(|e| self.trace_err(e))?;
        loop {
            if !self.stopped && self.expired.load(Ordering::Acquire) {
                self.stopped = true;
                self.settle = None;
                self.sync();
            }
            let (tid, event) = match self.pending.pop_front() {
                Some(e) => e,
                None => ptrace::wait(-1).map_err(|e| self.trace_err(format!("waitpid: {e}")))?,
            };
            let step = match event {
                Event::Exited(s) | Event::Killed(s) => {
                    let exit = match event {
                        Event::Killed(_) => ProgramExit::Killed(s),
                        _ => ProgramExit::Exited(s),
                    };
                    if tid == self.pid {
                        Step::Ended(exit)
                    } else {
                        self.thread_gone(tid);
                        Step::Gone
                    }
                }
                Event::Ptrace(ev) => {
                    if ev == libc::PTRACE_EVENT_EXEC {
                        self.exec()?;
                    }
                    self.cont(tid, 0)?;
                    Step::Stopped
                }
                Event::Signal(libc::SIGSTOP) if !self.seen.contains(&tid) => {
                    if thread_group(tid) == Some(self.pid) {
                        // A new thread's first stop.
                        self.seen.insert(tid);
                        self.threads += 1;
                        self.cont(tid, 0)?;
                    } else {
                        // A new process (fork): it runs on untraced, without breakpoints.
                        self.release(tid);
                    }
                    Step::Stopped
                }
                Event::Signal(libc::SIGTRAP) => self.trap(tid)?,
                Event::Signal(sig) => {
                    self.cont(tid, sig)?;
                    Step::Stopped
                }
            };
            if let Step::Ended(exit) = step {
                return Ok(exit);
            }
            self.maybe_done();
            self.progress();
        }
    }

    fn cont(&self, tid: i32, sig: i32) -> Result<()> {
        match ptrace::cont(tid, sig) {
            // The thread was killed meanwhile (exit_group): its exit follows.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r.map_err(|e| self.trace_err(e)),
        }
    }

    fn thread_gone(&mut self, tid: i32) {
        self.seen.remove(&tid);
        if self.settle.as_ref().is_some_and(|s| s.tid == tid) {
            self.settle = None;
            self.sync();
        }
    }

    /// Takes the breakpoints out of the memory of `child`, a process the program forked,
    /// and lets it run on untraced. A child that shares the program's memory (`vfork`)
    /// keeps them: its breakpoints are the program's (writing one there shows in the
    /// program's memory).
    fn release(&mut self, child: i32) {
        // Its copy of the memory has the breakpoints armed when it forked: any of `ever`.
        if let Ok(mem) = Memory::open(child) {
            for (&a, &orig) in &self.ever {
                if mem.read_byte(a).ok() != Some(INT3) {
                    continue;
                }
                let _ = mem.write_byte(a, orig);
                if self.inserted.contains_key(&a) && self.mem.read_byte(a).ok() == Some(orig) {
                    let _ = self.mem.write_byte(a, INT3);
                    break;
                }
            }
        }
        let _ = ptrace::detach(child);
    }

    /// The program called `exec`: everything mapped before is gone.
    fn exec(&mut self) -> Result<()> {
        self.mem = Memory::open(self.pid).map_err(|e| self.trace_err(e))?;
        self.inserted.clear();
        self.ever.clear();
        self.settle = None;
        self.loader = None;
        self.checkpoint = None;
        for m in &mut self.meta {
            m.live = false;
        }
        self.modules.clear();
        self.boundary_at.clear();
        self.visit_end.clear();
        if let Ok(exe) = std::fs::read_link(format!("/proc/{}/exe", self.pid)) {
            self.interp = sections::interpreter(&exe)
                .ok()
                .flatten()
                .and_then(|i| std::fs::canonicalize(i).ok());
        }
        self.rescan()?;
        self.sync();
        Ok(())
    }

    /// Reads `/proc/PID/maps` again: sections of newly mapped files, none of unmapped ones.
    fn rescan(&mut self) -> Result<()> {
        let now = sections::mapped_files(self.pid).map_err(|e| self.trace_err(e))?;
        let gone: Vec<Mapped> = self.modules.difference(&now).cloned().collect();
        let new: Vec<Mapped> = now.difference(&self.modules).cloned().collect();
        // Breakpoints in unmapped memory are gone with it: forget them without writing.
        let unmapped: Vec<u64> = self
            .live_boundaries()
            .filter(|&(_, (si, _))| gone.contains(&self.meta[si].module))
            .map(|(a, _)| a)
            .collect();
        for a in unmapped {
            self.inserted.remove(&a);
        }
        for m in &gone {
            for meta in self.meta.iter_mut().filter(|x| &x.module == m) {
                meta.live = false;
            }
        }
        for m in new {
            let Ok(bias) = sections::load_bias(&m.path, m.base) else {
                continue;
            };
            if self.interp.as_deref() == Some(m.path.as_path()) {
                if let Ok(Some(v)) = sections::symbol_value(&m.path, LOADER_BREAKPOINT) {
                    self.loader = Some(v.wrapping_add(bias));
                }
            }
            if self.checkpoint.is_none() {
                if let Some(name) = &self.opts.checkpoint {
                    if let Ok(Some(v)) = sections::symbol_value(&m.path, name) {
                        self.checkpoint = Some(v.wrapping_add(bias));
                    }
                }
            }
            let Ok(found) = sections::sections_of(&m.path) else {
                continue;
            };
            // The program as the user named it; other files as mapped.
            let module = if self.canonical.as_deref() == Some(m.path.as_path()) {
                self.program.display().to_string()
            } else {
                m.path.display().to_string()
            };
            for s in found {
                if let Some(pattern) = &self.opts.function {
                    if !s.function.as_deref().is_some_and(|f| f.contains(pattern)) {
                        continue;
                    }
                }
                self.cov.push(SectionCoverage {
                    module: module.clone(),
                    function: s.function.clone(),
                    start_ip: s.start,
                    post_commit_ip: s.post_commit,
                    abort_ip: s.abort,
                    boundaries: s
                        .boundaries
                        .iter()
                        .map(|&b| super::BoundaryCoverage {
                            addr: b,
                            offset: b - s.start,
                            ..Default::default()
                        })
                        .collect(),
                });
                self.cursor.push(0);
                self.meta.push(Meta {
                    bias,
                    exits: s.exits,
                    module: m.clone(),
                    live: true,
                });
            }
        }
        self.modules = now;
        self.boundary_at = self.live_boundaries().collect();
        self.visit_end = self
            .cov
            .iter()
            .zip(&self.meta)
            .enumerate()
            .filter(|(_, (_, m))| m.live)
            .flat_map(|(si, (s, m))| {
                std::iter::once(s.post_commit_ip)
                    .chain(m.exits.iter().copied())
                    .map(move |a| (a.wrapping_add(m.bias), si))
            })
            .collect();
        Ok(())
    }

    fn live_boundaries(&self) -> impl Iterator<Item = (u64, (usize, usize))> + '_ {
        self.cov
            .iter()
            .zip(&self.meta)
            .enumerate()
            .filter(|(_, (_, m))| m.live)
            .flat_map(|(si, (s, m))| {
                s.boundaries
                    .iter()
                    .enumerate()
                    .map(move |(bi, b)| (b.addr.wrapping_add(m.bias), (si, bi)))
            })
    }

    fn done(&self, si: usize, bi: usize) -> bool {
        let b = &self.cov[si].boundaries[bi];
        b.preempt > 0 && b.signal > 0
    }

    /// The addresses that must hold a breakpoint now.
    fn wanted(&self) -> HashSet<u64> {
        let mut w = HashSet::new();
        w.extend(self.loader);
        if let Some(s) = &self.settle {
            w.extend(s.addrs.iter().copied());
        } else if !self.stopped {
            for (&a, &(si, bi)) in &self.boundary_at {
                let armed = if self.opts.every_visit {
                    self.cursor[si] == bi
                } else {
                    !self.done(si, bi)
                };
                if armed {
                    w.insert(a);
                }
            }
            if self.opts.every_visit {
                w.extend(self.visit_end.keys().copied());
            }
        }
        w
    }

    /// Writes and removes breakpoints so that exactly [`Self::wanted`] are armed.
    fn sync(&mut self) {
        let wanted = self.wanted();
        let remove: Vec<u64> = self
            .inserted
            .keys()
            .copied()
            .filter(|a| !wanted.contains(a))
            .collect();
        for a in remove {
            self.unarm(a);
        }
        for a in wanted {
            self.arm(a);
        }
    }

    fn arm(&mut self, a: u64) {
        if self.inserted.contains_key(&a) {
            return;
        }
        if let Ok(orig) = self.mem.read_byte(a) {
            if self.mem.write_byte(a, INT3).is_ok() {
                self.inserted.insert(a, orig);
                self.ever.insert(a, orig);
            }
        }
    }

    fn unarm(&mut self, a: u64) {
        if let Some(orig) = self.inserted.remove(&a) {
            let _ = self.mem.write_byte(a, orig);
        }
    }

    /// The next event of thread `tid`; other threads' events wait in `pending`.
    fn wait_for(&mut self, tid: i32) -> Result<Event> {
        if let Some(k) = self.pending.iter().position(|&(t, _)| t == tid) {
            if let Some((_, e)) = self.pending.remove(k) {
                return Ok(e);
            }
        }
        loop {
            let (t, e) = ptrace::wait(-1).map_err(|e| self.trace_err(format!("waitpid: {e}")))?;
            if t == tid {
                return Ok(e);
            }
            self.pending.push_back((t, e));
        }
    }

    /// What a stop of `tid` (not a breakpoint stop) means for an operation on it.
    fn after_exit(&mut self, tid: i32, e: Event) -> Step {
        let exit = match e {
            Event::Killed(s) => ProgramExit::Killed(s),
            Event::Exited(s) => ProgramExit::Exited(s),
            _ => return Step::Stopped,
        };
        if tid == self.pid {
            Step::Ended(exit)
        } else {
            self.thread_gone(tid);
            Step::Gone
        }
    }

    /// Runs the instruction at the armed breakpoint `a` in thread `tid` (stopped there),
    /// then arms `a` again if it still should be.
    fn step_over(&mut self, tid: i32, a: u64) -> Result<Step> {
        if let Some(&orig) = self.inserted.get(&a) {
            let _ = self.mem.write_byte(a, orig);
        }
        ptrace::set_ip(tid, a).map_err(|e| self.trace_err(e))?;
        let mut sig = 0;
        let step = loop {
            if let Err(e) = ptrace::step(tid, sig) {
                if e.raw_os_error() != Some(libc::ESRCH) {
                    return Err(self.trace_err(e));
                }
            }
            sig = 0;
            match self.wait_for(tid)? {
                Event::Signal(libc::SIGTRAP) => break Step::Stopped,
                Event::Signal(s) => sig = s,
                Event::Ptrace(_) => {}
                e => break self.after_exit(tid, e),
            }
        };
        if self.inserted.contains_key(&a) {
            let _ = self.mem.write_byte(a, INT3);
        }
        Ok(step)
    }

    /// Lets `tid`, stopped by the breakpoint at `a`, go on from `a`.
    fn resume_at(&mut self, tid: i32, a: u64) -> Result<Step> {
        if self.inserted.contains_key(&a) {
            match self.step_over(tid, a)? {
                Step::Stopped => {}
                other => return Ok(other),
            }
        } else {
            ptrace::set_ip(tid, a).map_err(|e| self.trace_err(e))?;
        }
        self.cont(tid, 0)?;
        Ok(Step::Stopped)
    }

    /// A `SIGTRAP` stop of `tid`.
    fn trap(&mut self, tid: i32) -> Result<Step> {
        let ip = ptrace::ip(tid).map_err(|e| self.trace_err(e))?;
        let a = ip.wrapping_sub(1);
        if !self.inserted.contains_key(&a) {
            if self.ever.contains_key(&a) {
                // A breakpoint removed after this thread hit it.
                return self.resume_at(tid, a);
            }
            // Not ours: the program's own trap.
            self.cont(tid, libc::SIGTRAP)?;
            return Ok(Step::Stopped);
        }
        if Some(a) == self.loader {
            self.rescan()?;
            self.sync();
            return self.resume_at(tid, a);
        }
        if let Some(s) = &self.settle {
            if s.addrs.contains(&a) {
                if s.tid == tid {
                    self.settle = None;
                    self.sync();
                }
                return self.resume_at(tid, a);
            }
        }
        if let Some(&(si, bi)) = self.boundary_at.get(&a) {
            self.cov[si].boundaries[bi].reached += 1;
            if let Some(kind) = self.choose(si, bi) {
                return self.inject_at(tid, si, bi, a, kind);
            }
        }
        if let Some(&si) = self.visit_end.get(&a) {
            if self.opts.every_visit {
                // The visit passed the armed boundary by (a branch) without an injection.
                self.advance(si);
            }
        }
        self.resume_at(tid, a)
    }

    /// What to inject at boundary `bi` of section `si`, if anything.
    fn choose(&mut self, si: usize, bi: usize) -> Option<Injection> {
        let signal_ok = || signal_is_safe(self.pid, self.opts.signal);
        let b = &self.cov[si].boundaries[bi];
        if self.opts.every_visit {
            if self.cursor[si] != bi {
                return None;
            }
            if b.signal < b.preempt {
                if signal_ok() {
                    return Some(Injection::Signal);
                }
                self.signals_skipped += 1;
            }
            return Some(Injection::Preempt);
        }
        if b.preempt == 0 {
            Some(Injection::Preempt)
        } else if b.signal == 0 {
            if signal_ok() {
                Some(Injection::Signal)
            } else {
                self.signals_skipped += 1;
                None
            }
        } else {
            None
        }
    }

    /// Injects `kind` into `tid`, stopped at boundary `a` (`bi` of section `si`), and
    /// checks that the thread goes to `abort_ip`.
    fn inject_at(
        &mut self,
        tid: i32,
        si: usize,
        bi: usize,
        a: u64,
        kind: Injection,
    ) -> Result<Step> {
        let bias = self.meta[si].bias;
        let s = &self.cov[si];
        let abort = s.abort_ip.wrapping_add(bias);
        let mut leave = vec![s.post_commit_ip.wrapping_add(bias)];
        leave.extend(self.meta[si].exits.iter().map(|e| e.wrapping_add(bias)));
        let point = InjectionPoint {
            section: si,
            start_ip: s.start_ip,
            boundary: s.boundaries[bi].addr,
            kind,
            thread: tid,
        };
        self.unarm(a);
        ptrace::set_ip(tid, a).map_err(|e| self.trace_err(e))?;
        for &w in leave.iter().chain([abort].iter()) {
            self.arm(w);
        }
        let sig = match kind {
            Injection::Preempt => 0,
            Injection::Signal => {
                self.signals_injected += 1;
                self.opts.signal
            }
        };
        self.last = Some(point.clone());
        self.cont(tid, sig)?;
        loop {
            match self.wait_for(tid)? {
                Event::Signal(libc::SIGTRAP) => {
                    let r = ptrace::ip(tid)
                        .map_err(|e| self.trace_err(e))?
                        .wrapping_sub(1);
                    if r == abort {
                        break;
                    }
                    if leave.contains(&r) {
                        self.failure = Some(InjectFailure::NotAborted {
                            at: point,
                            stopped_at: r.wrapping_sub(bias),
                        });
                        self.stopped = true;
                        self.sync();
                        return self.resume_at(tid, r);
                    }
                    if self.inserted.contains_key(&r) {
                        // Another breakpoint on the way (a signal handler's code).
                        if Some(r) == self.loader {
                            self.rescan()?;
                        }
                        match self.step_over(tid, r)? {
                            Step::Stopped => self.cont(tid, 0)?,
                            other => return Ok(other),
                        }
                    } else if self.ever.contains_key(&r) {
                        ptrace::set_ip(tid, r).map_err(|e| self.trace_err(e))?;
                        self.cont(tid, 0)?;
                    } else {
                        self.cont(tid, libc::SIGTRAP)?;
                    }
                }
                Event::Signal(s) => self.cont(tid, s)?,
                Event::Ptrace(_) => self.cont(tid, 0)?,
                e => return Ok(self.after_exit(tid, e)),
            }
        }
        let b = &mut self.cov[si].boundaries[bi];
        match kind {
            Injection::Preempt => b.preempt += 1,
            Injection::Signal => b.signal += 1,
        }
        if self.opts.every_visit {
            self.advance(si);
        }
        let addrs = match self.checkpoint {
            Some(c) => vec![c],
            None => leave,
        };
        self.settle = Some(Settle { tid, addrs });
        self.sync();
        self.resume_at(tid, abort)
    }

    /// `every_visit`: arms the next boundary of section `si` instead of the current one.
    fn advance(&mut self, si: usize) {
        let n = self.cov[si].boundaries.len().max(1);
        self.cursor[si] = (self.cursor[si] + 1) % n;
        self.sync();
    }

    /// Sends the `when_done` signal once everything has been injected.
    fn maybe_done(&mut self) {
        let Some(sig) = self.opts.when_done else {
            return;
        };
        if self.done_sent.load(Ordering::Acquire) {
            return;
        }
        let all = !self.opts.every_visit
            && !self.cov.is_empty()
            && self
                .cov
                .iter()
                .all(|s| s.boundaries.iter().all(|b| b.preempt > 0 && b.signal > 0));
        if (all || self.stopped) && !self.done_sent.swap(true, Ordering::AcqRel) {
            let _ = ptrace::kill(self.pid, sig);
        }
    }

    fn progress(&mut self) {
        if !self.opts.progress || self.progress_at.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.progress_at = Instant::now();
        self.progress_drawn = true;
        let points: usize = self.cov.iter().map(|s| s.boundaries.len()).sum();
        let done: usize = self
            .cov
            .iter()
            .map(|s| {
                s.boundaries
                    .iter()
                    .filter(|b| b.preempt > 0 && b.signal > 0)
                    .count()
            })
            .sum();
        let entered = self.cov.iter().filter(|s| s.entered()).count();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rinject: {done}/{points} boundaries injected, {entered}/{} sections entered, {} threads, {}s",
            self.cov.len(),
            self.seen.len(),
            self.started.elapsed().as_secs()
        );
        let _ = err.flush();
    }
}
