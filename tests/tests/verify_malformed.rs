//! Nothing panics on a malformed file: a correct fixture (object file and PIE) is
//! truncated at many lengths and has bytes overwritten at many offsets, and `verify` and
//! `asm` must each return a report or an error for every variant.

mod verify_support;

use std::path::Path;

use rseq_link_check::__fuzz::asm::build_listing;
use rseq_link_check::__fuzz::verify::{analyse, Image};
use verify_support::{build_aarch64, build_x86_64, Form};

/// A small deterministic generator (xorshift64), so a failure names a reproducible case.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs both analyses on `data`; returns whether the bytes parsed as an ELF file.
fn survive(data: &[u8]) -> bool {
    match Image::parse(Path::new("mutant"), data) {
        Ok(image) => {
            let report = analyse(&image, "mutant").report;
            let _ = rseq_link_check::__fuzz::render::render_text(&report);
            let listing = build_listing(&image, "mutant", None);
            let _ = rseq_link_check::__fuzz::render::render_listing(
                &listing,
                rseq_link_check::ColorChoice::Never,
            );
            true
        }
        Err(e) => {
            assert!(e.to_string().starts_with("mutant: "), "{e}");
            false
        }
    }
}

fn mutate(original: &[u8], seed: u64) -> (usize, usize) {
    let mut rng = XorShift(seed);
    let (mut parsed, mut rejected) = (0, 0);
    for len in (0..original.len()).step_by(original.len() / 64 + 1) {
        if survive(&original[..len]) {
            parsed += 1;
        } else {
            rejected += 1;
        }
    }
    for _ in 0..400 {
        let mut data = original.to_vec();
        // Overwrite 1 to 8 bytes with random values or with 0xff runs (huge sizes/offsets).
        let at = (rng.next() as usize) % data.len();
        let n = 1 + (rng.next() as usize) % 8;
        let fill_ff = rng.next().is_multiple_of(3);
        for b in data.iter_mut().skip(at).take(n) {
            *b = if fill_ff { 0xff } else { rng.next() as u8 };
        }
        if survive(&data) {
            parsed += 1;
        } else {
            rejected += 1;
        }
    }
    (parsed, rejected)
}

#[test]
fn corrupted_and_truncated_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        build_x86_64(dir.path(), "correct-reference", false, Form::Object),
        build_x86_64(dir.path(), "correct-reference", false, Form::Pie),
        build_aarch64(dir.path(), "correct-reference", false, Form::Object),
    ];
    for (i, path) in inputs.iter().enumerate() {
        let original = std::fs::read(path).unwrap();
        assert!(survive(&original));
        let (parsed, rejected) = mutate(&original, 0x9e37_79b9_7f4a_7c15 ^ i as u64);
        // Both outcomes occur: the mutations reach the parser's error paths and the
        // analysis of damaged but readable files.
        assert!(
            parsed > 0 && rejected > 0,
            "{parsed} parsed, {rejected} rejected"
        );
    }
}
