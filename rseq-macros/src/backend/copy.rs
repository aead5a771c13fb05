//! The copy loop of `memcpy`, written once for every architecture: blocks of the widest width
//! while at least that many bytes remain, then each narrower width at most once, then single
//! bytes. Each architecture supplies the few primitives ([`CopyPrimitives`]): one step that
//! moves a block and advances the pointers and the remaining length, and the branches on the
//! remaining length. Every step only moves forward through speculative memory, so an abort
//! anywhere leaves a partial copy that the retry overwrites.
//!
//! The labels are numeric local labels (`77`, `88`, `9N`, `22`, `33`), unique within one
//! section's template because a section holds at most one loop's worth of each.

use super::Asm;

/// The scratch registers of one copy: source, destination, remaining length, and a data
/// register for the narrow steps (operand names of the asm template).
pub(crate) struct CopyRegs {
    /// The source pointer, advanced by each step.
    pub(crate) src: String,
    /// The destination pointer, advanced by each step.
    pub(crate) dst: String,
    /// The remaining length in bytes.
    pub(crate) len: String,
    /// A data register for the steps that move a general-register-sized block or less.
    pub(crate) data: String,
}

/// What an architecture provides to the copy loop.
pub(crate) trait CopyPrimitives {
    /// Moves `width` bytes from `[src]` to `[dst]`, adds `width` to both pointers and
    /// subtracts it from the length. Where the architecture has condition flags, the last
    /// instruction is the subtraction, so [`CopyPrimitives::branch_if_more`] may use them.
    fn step(&self, a: &mut Asm, r: &CopyRegs, width: u32);
    /// Branches to `label` when fewer than `n` bytes remain.
    fn branch_if_below(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str);
    /// Branches to `label` when at least `n` bytes remain.
    fn branch_if_at_least(&self, a: &mut Asm, r: &CopyRegs, n: u32, label: &str);
    /// Branches to `label` when no byte remains.
    fn branch_if_zero(&self, a: &mut Asm, r: &CopyRegs, label: &str);
    /// Right after a one-byte [`CopyPrimitives::step`]: branches to `label` when bytes
    /// remain.
    fn branch_if_more(&self, a: &mut Asm, r: &CopyRegs, label: &str);
}

/// Emits the loop for a run-time length: blocks of `widths[0]` bytes while at least that
/// many remain (when `widths` is not empty), then one block of each further width when that
/// many remain, then single bytes.
pub(crate) fn copy_loop(a: &mut Asm, p: &impl CopyPrimitives, r: &CopyRegs, widths: &[u32]) {
    if let Some((&block, once)) = widths.split_first() {
        p.branch_if_below(a, r, block, "88f");
        a.line("77:");
        p.step(a, r, block);
        p.branch_if_at_least(a, r, block, "77b");
        a.line("88:");
        for (i, &w) in once.iter().enumerate() {
            let label = 90 + i;
            p.branch_if_below(a, r, w, &format!("{label}f"));
            p.step(a, r, w);
            a.line(format!("{label}:"));
        }
    }
    p.branch_if_zero(a, r, "33f");
    a.line("22:");
    p.step(a, r, 1);
    p.branch_if_more(a, r, "22b");
    a.line("33:");
}
