//! The crate's one error type, [`Error`]: typed variants for unreadable or unanalysable
//! input, usage errors, and the per-area errors it wraps (the link line's [`LinkError`],
//! the link policy's [`UnknownCode`], the build-script API's compiler and file failures);
//! and [`ExitStatus`], the mapping of every outcome to a process exit status.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | clean: no finding at error severity (`verify`, `asm`: no error or warning) |
//! | 1 | findings |
//! | 2 | unreadable or unanalysable input |
//! | 64 | usage error (`EX_USAGE`): bad arguments, unknown code, bad policy setting |

use std::path::{Path, PathBuf};

/// Why a command could not produce a report. Every input variant names the file and what
/// is wrong; [`Error::exit_status`] says which exit status it calls for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, read or mapped.
    #[error("{path}: cannot read: {source} (check the path and its permissions)", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the ELF magic.
    #[error("{path}: not an ELF file", path = .path.display())]
    NotElf {
        /// The file.
        path: PathBuf,
    },
    /// The file is an ELF file but one of its tables is cut short or inconsistent.
    #[error("{path}: malformed or truncated ELF: {what}", path = .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The file is a valid ELF file of a class, byte order or machine the model does not handle.
    #[error("{path}: unsupported ELF file: {what} (64-bit little-endian x86_64 or aarch64 is supported)", path = .path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is unsupported.
        what: String,
    },
    /// Resolving the path ran into a cycle of symbolic links.
    #[error("{path}: symbolic link loop", path = .path.display())]
    SymlinkLoop {
        /// The file.
        path: PathBuf,
    },
    /// The dynamic loader would refuse to start the program.
    #[error("{path}: the dynamic loader would refuse to start this program: {what}", path = .path.display())]
    LoaderRefuses {
        /// The program.
        path: PathBuf,
        /// The missing file or version.
        what: String,
    },
    /// A program could not be run or followed under `ptrace` (`inject`).
    #[error("{path}: cannot run under ptrace: {what}", path = .path.display())]
    Trace {
        /// The program.
        path: PathBuf,
        /// What failed.
        what: String,
    },
    /// A command-line argument is not usable.
    #[error("invalid argument: {0}")]
    Usage(String),
    /// A link line could not be analysed: unusable arguments, or an input that cannot be
    /// read or parsed.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// A link policy setting (`RSEQ_LINK_CHECK_{ALLOW,WARN,DENY}`, `Check::deny`...) names
    /// an unknown code.
    #[error(transparent)]
    Policy(#[from] UnknownCode),
    /// The report could not be written to its output.
    #[error("cannot write the report: {0}")]
    Output(#[source] std::io::Error),
    /// The build-script API could not build its stand-in objects.
    #[error("cannot build the stand-in objects with `{compiler}`: {message} (set RSEQ_LINK_CHECK_CC or CC to a working C compiler)")]
    Compiler {
        /// The compiler.
        compiler: String,
        /// What went wrong.
        message: String,
    },
    /// The build-script API could not write a file of its trial link.
    #[error("cannot write {path}: {source}", path = .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Builds [`Error::Malformed`] for `path`.
    pub fn malformed(path: &Path, what: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }

    /// Builds [`Error::Io`] for `path`, recognising symbolic link loops (`ELOOP`).
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        if source.raw_os_error() == Some(libc_eloop()) {
            Error::SymlinkLoop {
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// The exit status this error calls for: [`ExitStatus::Usage`] for unusable arguments
    /// (a bad link line or policy setting included), [`ExitStatus::Unanalysable`] for
    /// everything about the input or the environment.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) | Error::Policy(_) | Error::Link(LinkError::Args(_)) => {
                ExitStatus::Usage
            }
            _ => ExitStatus::Unanalysable,
        }
    }
}

/// `ELOOP` on Linux (the same number on x86_64 and aarch64).
const fn libc_eloop() -> i32 {
    40
}

/// Result type of the analyser.
pub type Result<T> = std::result::Result<T, Error>;

/// The outcome of a command as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// No finding at error severity.
    Clean = 0,
    /// At least one finding at error severity.
    Findings = 1,
    /// The input could not be read or analysed.
    Unanalysable = 2,
    /// The command line (or a policy setting) is not usable: `EX_USAGE` of `sysexits.h`.
    Usage = 64,
}

impl ExitStatus {
    /// The numeric exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Why a link line could not be analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The command line itself is unusable.
    #[error("link line: {0}")]
    Args(String),
    /// An input could not be read.
    #[error("{path}: cannot read: {source} (check the path and its permissions)", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An input is not an object, archive, shared library or linker script we can read.
    #[error("{path}: {message}", path = .path.display())]
    BadInput {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A version script or dynamic list does not parse.
    #[error("{path}: {message} (fix the script syntax)", path = .path.display())]
    Script {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// An unknown code in a policy setting.
#[derive(Debug, thiserror::Error)]
#[error("unknown diagnostic code `{0}` in the rseq link policy (run `rseq-link-check explain` for the list)")]
pub struct UnknownCode(pub String);
