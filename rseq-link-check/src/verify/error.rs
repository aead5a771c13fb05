//! Why an input could not be read as an ELF file the verifier understands.

use std::path::PathBuf;

/// An input the verifier cannot analyse. Each variant names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file could not be opened or mapped.
    #[error("{path}: cannot read the file: {source} (check the path and its permissions)")]
    Io {
        /// The input file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a well-formed ELF file.
    #[error("{path}: not a well-formed ELF file: {reason} (pass an ELF executable, shared object or .o file)")]
    Malformed {
        /// The input file.
        path: PathBuf,
        /// What the parser found wrong.
        reason: String,
    },
    /// A well-formed ELF file of a kind the verifier does not handle.
    #[error("{path}: {what} is not supported (supported: 64-bit little-endian x86_64 and aarch64 ELF files)")]
    Unsupported {
        /// The input file.
        path: PathBuf,
        /// What is unsupported (class, byte order, machine).
        what: String,
    },
}
