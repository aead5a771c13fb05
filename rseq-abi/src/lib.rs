//! The Linux restartable-sequences (rseq) ABI and the calling thread's registered area.
//!
//! - [`abi`]: the kernel's types and constants (`no_std`).
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_code)]

pub mod abi;
#[cfg(feature = "std")]
pub mod auxv;
#[cfg(feature = "std")]
pub mod cpu;
#[cfg(feature = "std")]
mod errno;
#[cfg(feature = "std")]
pub mod glibc;
#[cfg(feature = "std")]
pub mod membarrier;
#[cfg(feature = "std")]
pub mod sys;
#[cfg(feature = "std")]
pub mod thread;

#[cfg(feature = "std")]
pub use errno::Errno;

pub use abi::{Rseq, RseqCs, RSEQ_SIG, SYS_RSEQ};
