//! A release build of the example binary (`tests/fixtures/macro/example`, linked with
//! `--gc-sections` like every Rust executable) keeps every critical-section descriptor in
//! `__rseq_cs_ptr_array`, and the per-CPU counter increment's fast path is exactly librseq's:
//! the cpu_id_start load, the descriptor store, the cpu compare and branch, the commit add.

use object::{Object, ObjectSection};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the example in release mode (in a copy, so the source tree gets no `Cargo.lock`).
fn build_example() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let fixture = root.join("tests/fixtures/macro/example");
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("macro-example");
    std::fs::create_dir_all(work.join("src")).unwrap();
    let manifest = std::fs::read_to_string(fixture.join("Cargo.toml"))
        .unwrap()
        .replace("../../../../", &format!("{}/", root.display()));
    std::fs::write(work.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(fixture.join("src/main.rs"), work.join("src/main.rs")).unwrap();
    std::fs::copy(root.join("Cargo.lock"), work.join("Cargo.lock")).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    rseq_tests::command::run_ok(
        Command::new(cargo)
            .args(["build", "--release", "--quiet"])
            .current_dir(&work)
            .env("CARGO_TARGET_DIR", work.join("target"))
            .env_remove("RUSTFLAGS"),
        "building the example failed",
    );
    let bin = work.join("target/release/rseq-macro-example");
    let run = Command::new(&bin).output().expect("running the example");
    assert!(run.status.success());
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "total 1002");
    bin
}

/// The pointer-array entries (resolving `R_X86_64_RELATIVE` relocations of the PIE).
fn pointer_entries(file: &object::File, ptrs: &object::Section) -> Vec<u64> {
    let data = ptrs.data().unwrap();
    let start = ptrs.address();
    let mut entries: Vec<u64> = data
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    if let Some(relocs) = file.dynamic_relocations() {
        for (off, r) in relocs {
            if off >= start && off < start + data.len() as u64 && !r.has_implicit_addend() {
                entries[((off - start) / 8) as usize] = r.addend() as u64;
            }
        }
    }
    entries
}

/// Every descriptor of `__rseq_cs` is listed exactly once in `__rseq_cs_ptr_array`.
fn check_descriptors(data: &[u8]) -> Result<usize, String> {
    let file = object::File::parse(data).map_err(|e| e.to_string())?;
    let cs = file.section_by_name("__rseq_cs").ok_or("no __rseq_cs")?;
    let ptrs = file
        .section_by_name("__rseq_cs_ptr_array")
        .ok_or("no __rseq_cs_ptr_array: dropped by --gc-sections")?;
    let n = cs.size() / 32;
    if cs.size() % 32 != 0 || n == 0 {
        return Err(format!("__rseq_cs has {} bytes", cs.size()));
    }
    let mut entries = pointer_entries(&file, &ptrs);
    entries.sort_unstable();
    check_each_descriptor(&file, &cs)?;
    let expected: Vec<u64> = (0..n).map(|k| cs.address() + 32 * k).collect();
    if entries != expected {
        return Err(format!(
            "pointer array {entries:x?} does not list the {n} descriptors {expected:x?}"
        ));
    }
    Ok(n as usize)
}

/// The 64-bit word at `addr`: the addend of its `R_X86_64_RELATIVE` relocation in the PIE,
/// or the file's bytes.
fn word_at(file: &object::File, addr: u64) -> Option<u64> {
    if let Some(mut relocs) = file.dynamic_relocations() {
        if let Some((_, r)) = relocs.find(|(off, _)| *off == addr) {
            return Some(r.addend() as u64);
        }
    }
    file.sections().find_map(|s| {
        let (start, size) = (s.address(), s.size());
        (addr >= start && addr + 8 <= start + size).then(|| {
            let d = s.data().ok()?;
            let at = (addr - start) as usize;
            Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
        })?
    })
}

/// Each descriptor: version 0, flags 0, its own section (distinct start_ip), abort_ip
/// outside `[start_ip, post_commit_ip)` in `__rseq_failure`, preceded by the `ud1` signature.
fn check_each_descriptor(file: &object::File, cs: &object::Section) -> Result<(), String> {
    let data = cs.data().map_err(|e| e.to_string())?;
    let failure = file
        .section_by_name("__rseq_failure")
        .ok_or("no __rseq_failure")?;
    let fdata = failure.data().map_err(|e| e.to_string())?;
    let mut starts = Vec::new();
    for (k, d) in data.chunks_exact(32).enumerate() {
        let at = cs.address() + 32 * k as u64;
        if d[..8] != [0; 8] {
            return Err(format!("descriptor {k}: version/flags not 0"));
        }
        let start = word_at(file, at + 8).ok_or("start_ip")?;
        let pco = word_at(file, at + 16).ok_or("post_commit_offset")?;
        let abort = word_at(file, at + 24).ok_or("abort_ip")?;
        if (start..start + pco).contains(&abort) || pco == 0 {
            return Err(format!("descriptor {k}: abort_ip inside the section"));
        }
        let off = abort
            .checked_sub(failure.address() + 7)
            .ok_or(format!("descriptor {k}: abort_ip not in __rseq_failure"))?
            as usize;
        let sig = fdata
            .get(off..off + 7)
            .ok_or("abort_ip past __rseq_failure")?;
        if sig != [0x0f, 0xb9, 0x3d, 0x53, 0x30, 0x05, 0x53] {
            return Err(format!("descriptor {k}: no ud1 signature before abort_ip"));
        }
        starts.push(start);
    }
    starts.sort_unstable();
    starts.dedup();
    if starts.len() != data.len() / 32 {
        return Err("two descriptors share a start_ip".into());
    }
    Ok(())
}

#[test]
fn release_build_keeps_every_descriptor_and_the_fast_path_is_librseqs() {
    let bin = build_example();
    let data = std::fs::read(&bin).unwrap();
    let n = check_descriptors(&data).unwrap();
    // add (called out of line and inlined once more), cas, pop, copy_in: every inlined
    // copy has its own descriptor (distinct start_ip, checked above).
    assert!(n >= 5, "{n} descriptors");

    // A broken twin: the pointer array gone, as a plain `.pushsection` is after
    // `--gc-sections` (its name renamed away in the section-name table).
    let mut twin = data.clone();
    let name = b"__rseq_cs_ptr_array\0";
    let at = twin
        .windows(name.len())
        .position(|w| w == name)
        .expect("section name in .shstrtab");
    twin[at + 2] = b'X';
    assert!(
        check_descriptors(&twin).is_err(),
        "the check catches a broken twin"
    );

    // The fast path, from objdump.
    let out = Command::new("objdump")
        .args([
            "-d",
            "--no-show-raw-insn",
            "--disassemble=counter_increment",
        ])
        .arg(&bin)
        .output()
        .expect("objdump");
    let text = String::from_utf8_lossy(&out.stdout);
    let insns: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(":\t").map(|(_, i)| i.trim().to_string()))
        .collect();
    let lea = insns
        .iter()
        .position(|i| i.starts_with("lea") && i.contains("(%rip)"))
        .unwrap_or_else(|| panic!("no descriptor lea:\n{text}"));
    let window = &insns[lea..lea + 5];
    assert!(
        window[1].starts_with("mov") && window[1].contains("%fs:0x8("),
        "{window:?}"
    );
    assert!(
        window[2].starts_with("cmp") && window[2].contains("%fs:0x4("),
        "{window:?}"
    );
    assert!(window[3].starts_with("jne"), "{window:?}");
    assert!(
        window[4].starts_with("add") && window[4].ends_with(')'),
        "commit add: {window:?}"
    );
    // Before the descriptor store: the cpu_id_start load and the slot address only.
    let load = insns[..lea]
        .iter()
        .rposition(|i| i.starts_with("mov") && i.contains("%fs:("))
        .unwrap_or_else(|| panic!("no cpu_id_start load:\n{text}"));
    assert!(
        lea - load <= 4,
        "only the slot address between the cpu load and the section:\n{text}"
    );
    println!("{}", insns[load..=lea + 4].join("\n"));
}
