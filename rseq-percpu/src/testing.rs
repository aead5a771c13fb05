//! Helpers for this crate's unit tests.

/// Pins the calling thread to the CPU it runs on, so that every later operation uses one
/// slot.
pub(crate) fn pin_here() {
    rseq_testkit::pin_current_thread(&[rseq_abi::cpu::current_cpu() as usize]);
}
