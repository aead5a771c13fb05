//! Why rseq cannot be used on the calling thread: [`Reason`] and the error that carries
//! it, [`Unavailable`].

use core::fmt;

use super::process;
use crate::Errno;

/// Why rseq cannot be used on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// `rseq(2)` was refused with this errno: `ENOSYS` (kernel without rseq, or a seccomp
    /// filter), `EPERM` (seccomp filter), or another unexpected error.
    Refused(Errno),
    /// Another area, unknown to this crate, was registered on the thread first (`EINVAL`
    /// for a different area, `EBUSY` for the same one registered by someone else).
    Foreign(Errno),
    /// glibc owns registration and its registration failed (`cpu_id` is
    /// `RSEQ_CPU_ID_REGISTRATION_FAILED`); the errno `rseq(2)` now fails with, when a
    /// side-effect-free probe shows it is refused.
    GlibcFailed(Option<Errno>),
    /// glibc owns registration but this thread's area was never registered (a thread
    /// created without glibc's thread start-up).
    NotRegistered,
    /// The thread already ran its exit destructor and unregistered its area.
    ThreadExited,
    /// The running kernel does not fill `mm_cid` (`AT_RSEQ_FEATURE_SIZE` below 28, Linux
    /// before 6.3), so sections indexed by it cannot be used.
    MmCidUnsupported,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Refused(e) => write!(
                f,
                "rseq(2) refused with {e}: kernel without rseq or a seccomp filter"
            ),
            Reason::Foreign(e) => write!(f, "another rseq area is registered on this thread ({e})"),
            Reason::GlibcFailed(Some(e)) => {
                write!(
                    f,
                    "glibc's rseq registration failed; rseq(2) is refused with {e}"
                )
            }
            Reason::GlibcFailed(None) => {
                write!(f, "glibc's rseq registration failed on this thread")
            }
            Reason::NotRegistered => write!(f, "glibc did not register this thread's rseq area"),
            Reason::MmCidUnsupported => write!(
                f,
                "the kernel does not fill mm_cid (feature size {} < 28)",
                process::process().feature_size
            ),
            Reason::ThreadExited => {
                write!(f, "this thread already unregistered its rseq area at exit")
            }
        }
    }
}

/// rseq cannot be used on the calling thread: take the fallback path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rseq is unavailable on this thread: {0}")]
pub struct Unavailable(pub Reason);

impl Unavailable {
    /// Why rseq is unavailable.
    pub fn reason(self) -> Reason {
        self.0
    }
}
