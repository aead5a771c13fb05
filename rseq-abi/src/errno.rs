//! [`Errno`]: the typed error number the system-call wrappers return.

use core::fmt;

/// An `errno` value returned by a failed system call.
///
/// `Display` prints the symbolic name and the C library's message, e.g.
/// `EINVAL (Invalid argument)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

impl Errno {
    /// `EPERM`: operation not permitted (rseq refused by a seccomp filter, wrong signature).
    pub const EPERM: Errno = Errno(libc::EPERM);
    /// `EINVAL`: invalid argument (bad flags, length or alignment; another area registered).
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    /// `EBUSY`: this exact area is already registered on the thread.
    pub const EBUSY: Errno = Errno(libc::EBUSY);
    /// `EFAULT`: the area's address is not writable user memory.
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    /// `ENOSYS`: the kernel (or a seccomp filter) does not provide the system call.
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    /// `ENXIO`: `prctl(PR_RSEQ_SLICE_EXTENSION, SET)` on a thread with no rseq area.
    pub const ENXIO: Errno = Errno(libc::ENXIO);
    /// `ENOTSUPP` (524): a kernel-internal errno that leaks to user space, e.g. from
    /// `prctl(PR_RSEQ_SLICE_EXTENSION, SET)` when the extension is disabled on the kernel
    /// command line. Not `ENOTSUP`.
    pub const ENOTSUPP: Errno = Errno(524);

    /// Wraps a raw, positive `errno` value.
    pub const fn from_raw(raw: i32) -> Errno {
        Errno(raw)
    }

    /// The raw, positive `errno` value.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The calling thread's current `errno`.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The symbolic name (`"EINVAL"`) of the values the rseq and membarrier calls return.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::EINTR => "EINTR",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EINVAL => "EINVAL",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::ENOSYS => "ENOSYS",
            libc::ENXIO => "ENXIO",
            524 => "ENOTSUPP",
            _ => return None,
        })
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = std::io::Error::from_raw_os_error(self.0).to_string();
        // `io::Error`'s Display appends " (os error N)"; keep only the message.
        let message = message.split(" (os error").next().unwrap_or("");
        match self.name() {
            Some(name) => write!(f, "{name} ({message})"),
            None => write!(f, "errno {} ({message})", self.0),
        }
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}
