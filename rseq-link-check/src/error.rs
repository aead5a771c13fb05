//! Typed errors of the analyser and the mapping of outcomes to process exit codes.

use std::path::{Path, PathBuf};

/// Why an input could not be analysed. Every variant names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
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
    /// A command-line argument is not usable.
    #[error("invalid argument: {0}")]
    Usage(String),
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

    /// The exit code for this error: always [`ExitStatus::Unanalysable`].
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Unanalysable
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
pub enum ExitStatus {
    /// No finding at error severity.
    Clean = 0,
    /// At least one finding at error severity.
    Findings = 1,
    /// The input could not be analysed.
    Unanalysable = 2,
}

impl ExitStatus {
    /// The numeric exit code.
    pub fn code(self) -> i32 {
        self as i32
    }
}
