//! Scale: a large real binary without critical sections is read and reported plainly,
//! and a file with thousands of sections is verified section by section. Times are
//! printed for the record, never asserted (speed is measured by the benchmarks).

mod verify_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rseq_link_check::__fuzz::asm::listing_for_file;
use rseq_link_check::__fuzz::render::render_text;
use rseq_link_check::{__fuzz::render::render_listing, ColorChoice};
use verify_support::{fixture_dir, verify};

/// The largest x86_64 ELF file directly in /usr/bin or /usr/lib/x86_64-linux-gnu.
fn largest_system_elf() -> PathBuf {
    let mut best: Option<(u64, PathBuf)> = None;
    for dir in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || best.as_ref().is_some_and(|(size, _)| *size >= meta.len()) {
                continue;
            }
            // A 64-bit little-endian x86_64 ELF file (e_ident and e_machine).
            let mut header = [0u8; 20];
            let is_elf = std::fs::File::open(&path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
                .is_ok()
                && header[..4] == *b"\x7fELF"
                && header[4] == 2
                && header[5] == 1
                && u16::from_le_bytes([header[18], header[19]]) == 62;
            if is_elf {
                best = Some((meta.len(), path));
            }
        }
    }
    best.expect("no ELF file in /usr/bin").1
}

#[test]
fn a_large_real_binary_without_sections_is_reported_plainly() {
    let path = largest_system_elf();
    let size = std::fs::metadata(&path).unwrap().len();
    let t = Instant::now();
    let report = verify(&path);
    let verify_time = t.elapsed();
    assert!(report.sections.is_empty() && report.findings.is_empty());
    assert_eq!(report.exit_code(), 0);
    let text = render_text(&report);
    assert!(text.contains("no rseq critical sections found"), "{text}");

    let t = Instant::now();
    let listing = listing_for_file(&path, None).unwrap();
    let asm_time = t.elapsed();
    let text = render_listing(&listing, ColorChoice::Never);
    assert!(text.contains("no rseq critical sections found"), "{text}");
    eprintln!(
        "{} ({size} bytes): verify {verify_time:?}, asm {asm_time:?}",
        path.display()
    );
}

fn build_many(out: &Path, count: usize, pie: bool) -> PathBuf {
    let dir = fixture_dir("x86_64");
    let dst = out.join(format!("many-{count}.{}", if pie { "pie" } else { "o" }));
    let status = Command::new("gcc")
        .arg(format!("-Wa,-I{}", dir.display()))
        .arg(format!("-Wa,--defsym,COUNT={count}"))
        .arg(if pie { "-pie" } else { "-c" })
        .arg(dir.join("many-sections.s"))
        .arg("-o")
        .arg(&dst)
        .status()
        .unwrap();
    assert!(status.success());
    dst
}

#[test]
fn thousands_of_sections_are_each_verified() {
    let dir = tempfile::tempdir().unwrap();
    for pie in [false, true] {
        for count in [500, 4000] {
            let path = build_many(dir.path(), count, pie);
            let t = Instant::now();
            let report = verify(&path);
            let elapsed = t.elapsed();
            assert_eq!(report.sections.len(), count);
            assert!(report.is_clean(), "{}", render_text(&report));
            assert!(report.sections.iter().all(|s| s.instructions == 5
                && s.exits.len() == 1
                && s.descriptor.in_ptr_array
                && s.function.as_deref() == Some("many_sections")));
            let starts: std::collections::BTreeSet<u64> = report
                .sections
                .iter()
                .map(|s| s.descriptor.start_ip)
                .collect();
            assert_eq!(starts.len(), count, "every section has its own start");
            eprintln!(
                "{count} sections ({}): verify {elapsed:?}",
                if pie { "PIE" } else { "object" }
            );
        }
    }
}
