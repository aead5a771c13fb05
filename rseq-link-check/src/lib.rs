//! ELF analysis for rseq: loader-model symbol resolution, link checks and critical-section verification.
pub mod verify;
pub mod asm;
