//! The Linux restartable-sequences (rseq) ABI and the calling thread's registered area.
//!
//! - [`abi`]: the kernel's types and constants (`no_std`).
#![cfg_attr(not(feature = "std"), no_std)]

pub mod abi;

pub use abi::{Rseq, RseqCs, RSEQ_SIG, SYS_RSEQ};
