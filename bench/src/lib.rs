//! Support code for the benchmarks of this workspace (`cargo bench -p rseq-bench`).
//!
//! The benchmarks themselves live in `benches/`: `percpu` (per-CPU operations against the
//! alternatives a Rust user would pick), `instructions` (instruction counts of the fast
//! paths), `link_check` (the link checker against the real loader) and `generated`
//! (`verify` on generated binaries and the proc macro's expansion time). This library holds
//! what they share: worker threads started once and released by a barrier ([`pool`]),
//! CPU placement ([`affinity`]), the static fast-path analysis ([`disasm`]), side measurements next to criterion's estimates and the
//! ratio tables built from them ([`results`]), where things are ([`paths`]), and the
//! external programs they run ([`tools`]).
#![deny(unsafe_code)]

pub mod affinity;
pub mod disasm;
pub mod fastpath;
pub mod paths;
pub mod pool;
pub mod results;
pub mod tools;
