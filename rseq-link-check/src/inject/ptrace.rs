//! The system calls of the injector: starting a traced program, `waitpid`, `ptrace`
//! requests on stopped threads, `kill`, and the thread's memory through `/proc/PID/mem`.
//!
//! # Safety
//!
//! The only module of the crate with `unsafe` code: each block is one libc call on a
//! thread this process traces (or on its own child), with valid pointers to local data,
//! and says why it holds.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// `PTRACE_EVENT_CLONE`, `PTRACE_EVENT_EXEC` (and any other) stops.
const EVENT_SHIFT: i32 = 16;

/// What `waitpid` reported about one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Stopped with this signal (a breakpoint or single step is `SIGTRAP`).
    Signal(i32),
    /// A `PTRACE_EVENT_*` stop (clone, exec).
    Ptrace(i32),
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal.
    Killed(i32),
}

/// Makes `cmd` start traced by the calling thread (`PTRACE_TRACEME` before `exec`).
pub fn trace_me(cmd: &mut Command) {
    // SAFETY: the hook runs in the child between fork and exec and only calls ptrace,
    // which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The child's thread id.
pub fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).unwrap_or(i32::MAX)
}

/// `waitpid(pid, &status, __WALL | __WNOTHREAD)`: the next stop or exit of a thread this
/// thread traces (`pid` -1: any of them). Threads traced by other threads of this process
/// (other tests running their own injections) are left alone.
pub fn wait(pid: i32) -> io::Result<(i32, Event)> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid with a valid pointer to a local status word.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::__WNOTHREAD) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let event = if libc::WIFSTOPPED(status) {
            let event = status >> EVENT_SHIFT;
            if event != 0 {
                Event::Ptrace(event)
            } else {
                Event::Signal(libc::WSTOPSIG(status))
            }
        } else if libc::WIFSIGNALED(status) {
            Event::Killed(libc::WTERMSIG(status))
        } else {
            Event::Exited(libc::WEXITSTATUS(status))
        };
        return Ok((r, event));
    }
}

fn check(r: libc::c_long, what: &str) -> io::Result<()> {
    if r == -1 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

/// `PTRACE_SETOPTIONS`: kill the program if the injector dies, follow new threads, stop
/// new processes (`fork`, so that the injector can take its breakpoints out of them) and
/// report `exec`.
pub fn set_options(tid: i32) -> io::Result<()> {
    let opts = libc::PTRACE_O_EXITKILL
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEEXEC;
    // SAFETY: PTRACE_SETOPTIONS on a stopped tracee with an integer option mask.
    let r = unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, tid, 0, opts as libc::c_long) };
    check(r, "PTRACE_SETOPTIONS")
}

/// `PTRACE_CONT` with `signal` (0: none).
pub fn cont(tid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: PTRACE_CONT on a stopped tracee; `signal` is 0 or a signal number.
    let r = unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0, signal as libc::c_long) };
    check(r, "PTRACE_CONT")
}

/// `PTRACE_DETACH`: the thread runs on untraced.
pub fn detach(tid: i32) -> io::Result<()> {
    // SAFETY: PTRACE_DETACH on a stopped tracee, delivering no signal.
    let r = unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, 0, 0) };
    check(r, "PTRACE_DETACH")
}

/// `PTRACE_SINGLESTEP` with `signal` (0: none).
pub fn step(tid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: PTRACE_SINGLESTEP on a stopped tracee; `signal` is 0 or a signal number.
    let r = unsafe { libc::ptrace(libc::PTRACE_SINGLESTEP, tid, 0, signal as libc::c_long) };
    check(r, "PTRACE_SINGLESTEP")
}

/// `kill(pid, signal)`.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers; the pid is our child's, not yet reaped.
    let r = unsafe { libc::kill(pid, signal) };
    check(r.into(), "kill")
}

#[cfg(target_arch = "x86_64")]
fn regs(tid: i32) -> io::Result<libc::user_regs_struct> {
    // SAFETY: a zeroed user_regs_struct is valid plain data.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: PTRACE_GETREGS writes one user_regs_struct to the pointer given.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            tid,
            0,
            &mut regs as *mut libc::user_regs_struct,
        )
    };
    check(r, "PTRACE_GETREGS")?;
    Ok(regs)
}

/// The instruction pointer of a stopped thread.
#[cfg(target_arch = "x86_64")]
pub fn ip(tid: i32) -> io::Result<u64> {
    Ok(regs(tid)?.rip)
}

/// Sets the instruction pointer of a stopped thread.
#[cfg(target_arch = "x86_64")]
pub fn set_ip(tid: i32, ip: u64) -> io::Result<()> {
    let mut regs = regs(tid)?;
    regs.rip = ip;
    // SAFETY: PTRACE_SETREGS reads one user_regs_struct from the pointer given.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGS,
            tid,
            0,
            &regs as *const libc::user_regs_struct,
        )
    };
    check(r, "PTRACE_SETREGS")
}

/// The instruction pointer of a stopped thread (x86_64 only).
#[cfg(not(target_arch = "x86_64"))]
pub fn ip(_tid: i32) -> io::Result<u64> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Sets the instruction pointer of a stopped thread (x86_64 only).
#[cfg(not(target_arch = "x86_64"))]
pub fn set_ip(_tid: i32, _ip: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The traced program's memory (`/proc/PID/mem`, which the tracer may write even where
/// the program's text is read-only).
#[derive(Debug)]
pub struct Memory(File);

impl Memory {
    /// Opens the memory of process `pid`.
    pub fn open(pid: i32) -> io::Result<Memory> {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))
            .map(Memory)
    }

    /// Reads the byte at `addr`.
    pub fn read_byte(&self, addr: u64) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.0.read_exact_at(&mut b, addr)?;
        Ok(b[0])
    }

    /// Writes the byte `b` at `addr`.
    pub fn write_byte(&self, addr: u64, b: u8) -> io::Result<()> {
        self.0.write_all_at(&[b], addr)
    }
}
