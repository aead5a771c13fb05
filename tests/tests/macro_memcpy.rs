//! The copy `#[rseq_critical]` emits for `memcpy`, run on the real kernel: every length from
//! 0 to 200 bytes with every source and destination misalignment (runtime lengths: the word
//! loop plus the byte tail), and a spread of literal lengths (straight-line moves up to 128
//! bytes, the loop above). The destination is surrounded by canaries: exactly `len` bytes
//! change, and they are the source's. The literal-length sections come out of a
//! `macro_rules!` (`$len:literal`), so the attribute is also shown to read operands through
//! the invisible groups such fragments arrive in.

use rseq_abi::thread::Unavailable;
use rseq_macros::rseq_critical;

/// Room on each side of the copied bytes that must stay untouched.
const GUARD: usize = 16;
const CANARY: u8 = 0xa5;
/// Longest runtime length tried (and `memcpy::<MAX>`'s bound).
const MAX: usize = 200;

/// Copies `len` bytes with a runtime length, then commits `*count += 1`.
#[rseq_critical]
unsafe fn copy_runtime(
    count: *mut usize,
    #[speculative] dst: *mut u8,
    src: *const u8,
    len: usize,
) -> Result<(), Unavailable> {
    let _cpu = cpu_id();
    memcpy::<200>(dst, src, len);
    commit_add(count, 1);
    Ok(())
}

macro_rules! literal_copies {
    ($($name:ident = $len:literal),* $(,)?) => {
        $(
            /// Copies a literal number of bytes, then commits `*count += 1`.
            #[rseq_critical]
            unsafe fn $name(
                count: *mut usize,
                #[speculative] dst: *mut u8,
                src: *const u8,
            ) -> Result<(), Unavailable> {
                let _cpu = cpu_id();
                memcpy(dst, src, $len);
                commit_add(count, 1);
                Ok(())
            }
        )*

        /// Every literal-length copy, with its length.
        const LITERAL: &[(usize, unsafe fn(*mut usize, *mut u8, *const u8) -> Result<(), Unavailable>)] =
            &[$(($len, $name)),*];
    };
}

literal_copies!(
    copy_0 = 0,
    copy_1 = 1,
    copy_2 = 2,
    copy_3 = 3,
    copy_4 = 4,
    copy_5 = 5,
    copy_7 = 7,
    copy_8 = 8,
    copy_9 = 9,
    copy_15 = 15,
    copy_16 = 16,
    copy_23 = 23,
    copy_31 = 31,
    copy_64 = 64,
    copy_127 = 127,
    copy_128 = 128,
    copy_129 = 129,
    copy_200 = 200,
);

/// A source pattern no two offsets share within the lengths tried.
fn source() -> Vec<u8> {
    (0..MAX + 2 * GUARD).map(|i| (i * 7 + 3) as u8).collect()
}

/// Runs `copy` into a canaried buffer at `dst_off` from `src[src_off..]` and checks that
/// exactly `len` bytes were copied and the commit ran once.
fn check(
    len: usize,
    src_off: usize,
    dst_off: usize,
    copy: impl FnOnce(*mut usize, *mut u8, *const u8) -> Result<(), Unavailable>,
) {
    let src = source();
    let mut dst = vec![CANARY; GUARD + dst_off + MAX + GUARD];
    let mut count = 0usize;
    let start = GUARD + dst_off;
    copy(
        &mut count,
        dst[start..].as_mut_ptr(),
        src[src_off..].as_ptr(),
    )
    .expect("rseq is available on this machine");
    assert_eq!(count, 1, "len {len}: the commit ran once");
    assert!(
        dst[..start].iter().all(|&b| b == CANARY),
        "len {len} (src +{src_off}, dst +{dst_off}): bytes before the destination changed"
    );
    assert_eq!(
        &dst[start..start + len],
        &src[src_off..src_off + len],
        "len {len} (src +{src_off}, dst +{dst_off}): copied bytes differ"
    );
    assert!(
        dst[start + len..].iter().all(|&b| b == CANARY),
        "len {len} (src +{src_off}, dst +{dst_off}): bytes after the destination changed"
    );
}

#[test]
fn runtime_lengths_copy_exactly_at_every_alignment() {
    let mut cases = 0;
    for len in 0..=MAX {
        for src_off in 0..8 {
            for dst_off in 0..8 {
                check(len, src_off, dst_off, |count, dst, src| {
                    // SAFETY: `dst` has room for MAX bytes, `src` holds MAX bytes past the
                    // offset, and `count` is a live local.
                    unsafe { copy_runtime(count, dst, src, len) }
                });
                cases += 1;
            }
        }
    }
    assert_eq!(cases, (MAX + 1) * 64);
}

#[test]
fn literal_lengths_copy_exactly() {
    for &(len, copy) in LITERAL {
        for off in [0, 1, 3, 7] {
            check(len, off, 7 - off, |count, dst, src| {
                // SAFETY: as above; every literal is at most MAX.
                unsafe { copy(count, dst, src) }
            });
        }
    }
}
