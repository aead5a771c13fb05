//! Every family rendered by each backend, assembled by the GNU assembler of that
//! architecture, and the object checked: one well-formed `struct rseq_cs` per section (version
//! 0, flags 0, 32-byte aligned, start_ip and abort_ip relocated against the right sections,
//! the post-commit offset ending right after the commit store), the pointer-array entry, the
//! exit-point pairs, and the signature right before each abort_ip.
//!
//! Each non-host architecture is assembled twice: by GNU `as` (Debian
//! `binutils-aarch64-linux-gnu`, `binutils-riscv64-linux-gnu`) and by LLVM's `llvm-mc`
//! (Debian `llvm`), the assembler behind `asm!`; all installed by `scripts/setup`. x86_64
//! uses the host `as`. Finally the `asm!` blocks themselves (template and operand kinds) are
//! compiled by the installed rustc for aarch64 and riscv64 in a `no_core` crate, whose
//! objects get the same checks: the Rust side of those backends cannot be built here
//! otherwise (only the x86_64 standard library is installed).

use super::{aarch64::Aarch64, riscv64::Riscv64, section, x86_64::X86_64, Arch};
use crate::expand::lower;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
use std::collections::HashMap;
use std::process::Command;

/// One function per family (and per commit flavour), as a user writes them.
pub(crate) const FAMILIES: &[(&str, &str, usize)] = &[
    (
        "cmpxchg",
        "unsafe fn f(words: *mut usize, expect: usize, newv: usize) -> Result<bool, U> {
            let cpu = cpu_id();
            let v = words.wrapping_add(cpu);
            let old = load(v);
            if old != expect { return Ok(false); }
            commit(v, newv);
            Ok(true)
        }",
        1,
    ),
    (
        "add",
        "unsafe fn f(counters: *mut usize, count: usize) -> Result<(), U> {
            let cpu = cpu_id();
            let v = counters.wrapping_add(cpu);
            commit_add(v, count);
            Ok(())
        }",
        0,
    ),
    (
        "list_pop",
        "unsafe fn f(heads: *mut usize, next_off: usize, #[speculative] out: *mut usize) -> Result<bool, U> {
            let cid = mm_cid();
            let v = heads.wrapping_add(cid);
            let head = load(v);
            if head == 0 { return Ok(false); }
            store(out, head);
            let next = load(head.byte_add(next_off));
            commit(v, next);
            Ok(true)
        }",
        1,
    ),
    (
        "chase_add",
        "unsafe fn f(tables: *mut usize, inc: usize) -> Result<(), U> {
            let cpu = cpu_id();
            let ptr = tables.wrapping_add(cpu);
            let p = load(ptr.byte_add(8));
            commit_add(p, inc);
            Ok(())
        }",
        0,
    ),
    (
        "cmp2_store",
        "unsafe fn f(v: *mut usize, expect: usize, v2: *mut usize, expect2: usize, newv: usize) -> Result<u8, U> {
            let cpu = cpu_id();
            let a = load(v);
            if a != expect { return Ok(1); }
            let b = load(v2);
            if b != expect2 { return Ok(2); }
            commit(v, newv);
            Ok(0)
        }",
        2,
    ),
    (
        "store_store",
        "unsafe fn f(tail: *mut usize, #[speculative] slot: *mut usize, expect: usize, item: usize, next: usize) -> Result<bool, U> {
            let cpu = cpu_id();
            let t = load(tail);
            if t != expect { return Ok(false); }
            store(slot, item);
            commit(tail, next);
            Ok(true)
        }",
        1,
    ),
    (
        "store_store_release",
        "unsafe fn f(tail: *mut usize, #[speculative] slot: *mut usize, expect: usize, item: usize, next: usize) -> Result<bool, U> {
            let cpu = cpu_id();
            let t = load(tail);
            if t != expect { return Ok(false); }
            store(slot, item);
            commit_release(tail.byte_add(8), next);
            Ok(true)
        }",
        1,
    ),
    (
        "memcpy_store",
        "unsafe fn f(off: *mut usize, #[speculative] dst: *mut u8, src: *const u8, expect: usize, newv: usize) -> Result<bool, U> {
            let cpu = cpu_id();
            let o = load(off);
            if o != expect { return Ok(false); }
            memcpy(dst, src, 16);
            commit(off, newv);
            Ok(true)
        }",
        1,
    ),
    (
        "memcpy_store_release",
        "unsafe fn f(off: *mut usize, #[speculative] dst: *mut u8, src: *const u8, len: usize, expect: usize, newv: usize) -> Result<bool, U> {
            let cpu = cpu_id();
            let o = load(off);
            if o == expect { return Ok(false); }
            memcpy::<64>(dst, src, len);
            commit_release(off, newv);
            Ok(true)
        }",
        1,
    ),    (
        "memcpy_src_offset",
        "unsafe fn f(off: *mut usize, #[speculative] dst: *mut u8, src: *const u8, skip: usize, newv: usize) -> Result<bool, U> {
            let cpu = cpu_id();
            memcpy(dst.byte_add(8), src.byte_add(skip), 24);
            commit(off, newv);
            Ok(true)
        }",
        0,
    ),
    (
        "wide_literals",
        "unsafe fn f(v: *mut usize, #[speculative] out: *mut usize) -> Result<bool, U> {
            let cpu = cpu_id();
            let old = load(v);
            if old == 0x8000_0000_0000_0000 { return Ok(false); }
            store(out, 0xFFFF_FFFF_0000_0000);
            commit_add(v, 0xFFFF_FFFF_FFFF_FFFF);
            Ok(true)
        }",
        1,
    ),
];

/// The assembly text of one family on `arch`, with registers, constants and labels
/// substituted, as a function `name` followed by its exit and abort targets.
pub(crate) fn rendered(arch: &dyn Arch, src: &str, name: &str) -> String {
    let item: syn::ItemFn = syn::parse_str(src).expect("family parses");
    let c = crate::parse::parse_fn(item).expect("family is well-formed");
    crate::validate::check(&c).expect("family is valid");
    let lowered = lower(&c, arch);
    let asm = section(arch, &lowered.ops, &lowered.exit_labels, "family");
    let target = arch.target_arch();
    let aarch64 = target == "aarch64";
    let regs: std::cell::RefCell<HashMap<String, usize>> = Default::default();
    let sig = match target {
        "aarch64" => 0xd428_bc00u32,
        "riscv64" => 0xf140_1073,
        _ => 0x5305_3053,
    };
    let x86_regs = [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
        "r15",
    ];
    let body = super::render(&asm.lines, &|op: &str, modifier: Option<&str>| -> String {
        match op {
            "rseq_cs" => return "8".into(),
            "field" => return "4".into(),
            "sig" => return sig.to_string(),
            "abort" => return format!("{name}_abort"),
            _ if op.starts_with("exit") => return format!("{name}_{op}"),
            _ => {}
        }
        // Vector scratch registers (x86_64 copies): xmm0, xmm1, ...
        if let Some(k) = op.strip_prefix("vtmp") {
            return format!("%xmm{k}");
        }
        // Distinct operands get distinct registers, in order of first use.
        let n = {
            let mut regs = regs.borrow_mut();
            let next = regs.len();
            *regs.entry(op.to_string()).or_insert(next)
        };
        if target == "riscv64" {
            // x5.. (x0-x4 are zero, ra, sp, gp, tp).
            format!("x{}", n + 5)
        } else if aarch64 {
            match modifier {
                Some("w") => format!("w{n}"),
                _ => format!("x{n}"),
            }
        } else {
            let r = x86_regs[n];
            let r = match modifier {
                Some("e")
                    if r.starts_with('r')
                        && r.len() <= 3
                        && !r[1..].chars().all(|c| c.is_ascii_digit()) =>
                {
                    format!("e{}", &r[1..])
                }
                Some("e") => format!("{r}d"),
                Some("x")
                    if r.starts_with('r')
                        && r.len() <= 3
                        && !r[1..].chars().all(|c| c.is_ascii_digit()) =>
                {
                    r[1..].to_string()
                }
                Some("x") => format!("{r}w"),
                Some("l") => match r {
                    "rax" => "al".into(),
                    "rbx" => "bl".into(),
                    "rcx" => "cl".into(),
                    "rdx" => "dl".into(),
                    "rsi" => "sil".into(),
                    "rdi" => "dil".into(),
                    _ => format!("{r}b"),
                },
                _ => r.to_string(),
            };
            format!("%{r}")
        }
    });
    let mut out = String::new();
    out.push_str(&format!(".text\n.globl {name}\n{name}:\n{body}"));
    let ret = "ret";
    for e in &lowered.exit_labels {
        out.push_str(&format!("{name}_{e}:\n{ret}\n"));
    }
    out.push_str(&format!("{name}_abort:\n{ret}\n"));
    out
}

struct Built {
    data: Vec<u8>,
}

fn assemble(assembler: &[&str], text: &str) -> Option<Built> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rseq-macros-as-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("in.s");
    let obj = dir.join("out.o");
    std::fs::write(&src, text).ok()?;
    let out = match Command::new(assembler[0])
        .args(&assembler[1..])
        .arg("-o")
        .arg(&obj)
        .arg(&src)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("{} not found ({e}): run scripts/setup", assembler[0]),
    };
    assert!(
        out.status.success(),
        "{} rejected the rendered text:\n{}\n{text}",
        assembler[0],
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&obj).ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    Some(Built { data })
}

/// Checks the tables of an object holding `sections` critical sections and `exits` exits.
fn check_object(
    built: &Built,
    sections: usize,
    exits: usize,
    sig: [u8; 4],
    sig_prefix: &[u8],
    commit_ok: &dyn Fn(&[u8]) -> bool,
) {
    let file = object::File::parse(&*built.data).expect("object parses");
    let sec = |name: &str| {
        file.section_by_name(name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let cs = sec("__rseq_cs");
    let ptrs = sec("__rseq_cs_ptr_array");
    let failure = sec("__rseq_failure");
    assert_eq!(cs.align(), 32, "descriptors are 32-byte aligned");
    let cs_data = cs.data().unwrap();
    assert_eq!(cs_data.len(), 32 * sections);
    // SHF_GNU_RETAIN on the arrays.
    let retained = |s: &object::Section| match s.flags() {
        object::SectionFlags::Elf { sh_flags } => {
            sh_flags & u64::from(object::elf::SHF_GNU_RETAIN) != 0
        }
        _ => false,
    };
    assert!(
        retained(&ptrs),
        "__rseq_cs_ptr_array carries SHF_GNU_RETAIN"
    );
    // Relocations of the descriptors: offset -> (section name, addend).
    // Relocations: offset -> (target section name, offset in it). Absolute relocations
    // only (riscv adds ADD/SUB pairs for label differences when relaxing).
    let relocs = |s: &object::Section| -> HashMap<u64, (String, i64)> {
        s.relocations()
            .filter(|(_, r)| r.kind() == object::RelocationKind::Absolute)
            .map(|(off, r)| {
                let (section, base) = match r.target() {
                    RelocationTarget::Section(i) => (Some(i), 0),
                    RelocationTarget::Symbol(i) => {
                        let sym = file.symbol_by_index(i).unwrap();
                        (sym.section_index(), sym.address() as i64)
                    }
                    _ => (None, 0),
                };
                let name = section
                    .map(|i| {
                        file.section_by_index(i)
                            .unwrap()
                            .name()
                            .unwrap()
                            .to_string()
                    })
                    .unwrap_or_else(|| "?".into());
                (off, (name, base + r.addend()))
            })
            .collect()
    };
    let cs_rel = relocs(&cs);
    let failure_data = failure.data().unwrap();
    for k in 0..sections {
        let base = 32 * k;
        let d = &cs_data[base..base + 32];
        assert_eq!(&d[0..8], &[0; 8], "version 0, flags 0");
        let (start_sec, start) = cs_rel
            .get(&(base as u64 + 8))
            .expect("start_ip relocated")
            .clone();
        assert!(start_sec.starts_with(".text"), "{start_sec}");
        let text_data = file.section_by_name(&start_sec).unwrap().data().unwrap();
        let (abort_sec, abort) = cs_rel
            .get(&(base as u64 + 24))
            .expect("abort_ip relocated")
            .clone();
        assert_eq!(
            abort_sec, "__rseq_failure",
            "abort_ip outside the section's text"
        );
        assert!(
            !cs_rel.contains_key(&(base as u64 + 16)),
            "post_commit_offset is a constant"
        );
        let mut pco = u64::from_le_bytes(d[16..24].try_into().unwrap()) as i64;
        // riscv: the label difference is an R_RISCV_ADD64 / R_RISCV_SUB64 pair the linker
        // resolves (end label minus start label).
        for (off, r) in cs.relocations() {
            if off != base as u64 + 16 {
                continue;
            }
            let object::RelocationFlags::Elf { r_type } = r.flags() else {
                continue;
            };
            let RelocationTarget::Symbol(i) = r.target() else {
                continue;
            };
            let value = file.symbol_by_index(i).unwrap().address() as i64 + r.addend();
            match r_type {
                object::elf::R_RISCV_ADD64 => pco += value,
                object::elf::R_RISCV_SUB64 => pco -= value,
                other => panic!("unexpected relocation {other} on post_commit_offset"),
            }
        }
        let pco = pco as usize;
        let end = start as usize + pco;
        assert!(pco > 0 && end <= text_data.len());
        assert!(
            commit_ok(&text_data[..end]),
            "the section ends with the commit store"
        );
        let abort = abort as usize;
        assert!(abort >= 4 + sig_prefix.len());
        assert_eq!(
            &failure_data[abort - 4..abort],
            &sig,
            "signature right before abort_ip"
        );
        assert_eq!(
            &failure_data[abort - 4 - sig_prefix.len()..abort - 4],
            sig_prefix
        );
    }
    let ptr_rel = relocs(&ptrs);
    assert_eq!(ptrs.data().unwrap().len(), 8 * sections);
    assert_eq!(ptr_rel.len(), sections);
    for (off, (target, addend)) in &ptr_rel {
        assert_eq!(target, "__rseq_cs");
        assert_eq!(*addend as u64, off * 4, "pointer k designates descriptor k");
    }
    match file.section_by_name("__rseq_exit_point_array") {
        Some(ex) => {
            assert!(
                retained(&ex),
                "__rseq_exit_point_array carries SHF_GNU_RETAIN"
            );
            assert_eq!(ex.data().unwrap().len(), 16 * exits);
            let rel = relocs(&ex);
            assert_eq!(rel.len(), 2 * exits);
            for (_, (target, _)) in rel {
                assert!(
                    target.starts_with(".text"),
                    "exit pairs point into the code"
                );
            }
        }
        None => assert_eq!(exits, 0),
    }
}

/// aarch64 stores that may end a section: `str`/`stlr` of a 64-bit register.
fn aarch64_commit(text: &[u8]) -> bool {
    let w = u32::from_le_bytes(text[text.len() - 4..].try_into().unwrap());
    (w & 0xffc0_0000) == 0xf900_0000 // str xT, [xN, #imm]
        || (w & 0xffe0_0c00) == 0xf820_0800 // str xT, [xN, xM]
        || (w & 0xffff_fc00) == 0xc89f_fc00 // stlr xT, [xN]
}

/// riscv64 stores that may end a section: `sd` (or its compressed form).
fn riscv64_commit(text: &[u8]) -> bool {
    let w = u32::from_le_bytes(text[text.len() - 4..].try_into().unwrap());
    let h = u16::from_le_bytes(text[text.len() - 2..].try_into().unwrap());
    (w & 0x707f) == 0x3023 || (h & 0xe003) == 0xe000
}

/// x86_64: the commit is a 64-bit `mov` or `add` to memory ending right at post_commit_ip
/// (REX.W then 89/01, or the immediate forms c7/81/83).
fn x86_64_commit(text: &[u8]) -> bool {
    (2..=8).any(|len| {
        text.len() >= len
            && text[text.len() - len] & 0xf8 == 0x48
            && matches!(text[text.len() - len + 1], 0x89 | 0x01 | 0xc7 | 0x81 | 0x83)
    })
}

/// Renders every family for `arch`, assembles the lot with `assembler`, checks the object.
fn check_arch(
    arch: &dyn Arch,
    assembler: &[&str],
    sig: u32,
    prefix: &[u8],
    commit: &dyn Fn(&[u8]) -> bool,
) {
    let mut all = String::new();
    let mut exits = 0;
    for (name, src, n_exits) in FAMILIES {
        all.push_str(&rendered(arch, src, name));
        exits += n_exits;
    }
    let built = assemble(assembler, &all).expect("assembled");
    check_object(
        &built,
        FAMILIES.len(),
        exits,
        sig.to_le_bytes(),
        prefix,
        commit,
    );
}

#[test]
fn aarch64_gnu_as_accepts_every_family() {
    check_arch(
        &Aarch64,
        &["aarch64-linux-gnu-as"],
        0xd428_bc00,
        &[],
        &aarch64_commit,
    );
}

/// The same text through LLVM's assembler, which `asm!` uses.
#[test]
fn aarch64_llvm_mc_accepts_every_family() {
    check_arch(
        &Aarch64,
        &["llvm-mc", "-triple=aarch64-linux-gnu", "-filetype=obj"],
        0xd428_bc00,
        &[],
        &aarch64_commit,
    );
}

#[test]
fn riscv64_gnu_as_accepts_every_family() {
    check_arch(
        &Riscv64,
        &["riscv64-linux-gnu-as"],
        0xf140_1073,
        &[],
        &riscv64_commit,
    );
}

#[test]
fn riscv64_llvm_mc_accepts_every_family() {
    check_arch(
        &Riscv64,
        &[
            "llvm-mc",
            "-triple=riscv64-linux-gnu",
            "-mattr=+c",
            "-filetype=obj",
        ],
        0xf140_1073,
        &[],
        &riscv64_commit,
    );
}

#[test]
fn x86_64_as_accepts_every_family() {
    check_arch(
        &X86_64,
        &["as"],
        0x5305_3053,
        &[0x0f, 0xb9, 0x3d],
        &x86_64_commit,
    );
}

/// The checker catches a broken twin: a signature one byte off.
#[test]
fn checker_rejects_a_wrong_signature() {
    let text = rendered(&Aarch64, FAMILIES[1].1, "add")
        .replace(&0xd428_bc00u32.to_string(), &0xd428_bc01u32.to_string());
    let built = assemble(&["aarch64-linux-gnu-as"], &text).expect("assembled");
    let r = std::panic::catch_unwind(|| {
        check_object(
            &built,
            1,
            0,
            0xd428_bc00u32.to_le_bytes(),
            &[],
            &aarch64_commit,
        )
    });
    assert!(r.is_err(), "a wrong signature must be caught");
}

/// A `no_core` Rust source holding, per family, the `asm!` block exactly as the expander
/// lays out the template and the operand kinds (inputs as `in(reg)`, scratch and loads as
/// `out(reg) _`, offsets and the signature as `const`, exits and the abort as `label`), for
/// compiling with rustc for a target whose standard library is not installed.
fn no_core_source(arch: &dyn Arch, sig: u32) -> String {
    let mut out = String::from(
        "#![feature(no_core, lang_items, rustc_attrs, decl_macro)]\n#![no_core]\n#![allow(internal_features)]\n\
         #[lang = \"pointee_sized\"] pub trait PointeeSized {}\n\
         #[lang = \"meta_sized\"] pub trait MetaSized: PointeeSized {}\n\
         #[lang = \"sized\"] pub trait Sized: MetaSized {}\n\
         #[lang = \"copy\"] pub trait Copy {}\n\
         #[lang = \"legacy_receiver\"] pub trait LegacyReceiver {}\n\
         impl Copy for usize {}\n\
         #[rustc_builtin_macro] pub macro asm(\"assembly template\", $(operands,)* $(options($(option),*))?) {}\n",
    );
    for (name, src, _) in FAMILIES {
        let item: syn::ItemFn = syn::parse_str(src).unwrap();
        let c = crate::parse::parse_fn(item).unwrap();
        let lowered = lower(&c, arch);
        let asm = section(arch, &lowered.ops, &lowered.exit_labels, "family");
        let inputs: Vec<&str> = lowered.inputs.iter().map(|(n, _)| n.as_str()).collect();
        let mut params = vec!["area: usize".to_string(), "idx: usize".to_string()];
        params.extend(inputs.iter().map(|n| format!("{n}: usize")));
        out.push_str(&format!(
            "#[no_mangle]\npub unsafe fn {name}({}) -> usize {{\n    asm!(\n",
            params.join(", ")
        ));
        for line in &asm.lines {
            out.push_str(&format!("        {line:?},\n"));
        }
        out.push_str("        area = in(reg) area,\n        idx = in(reg) idx,\n");
        for n in &inputs {
            out.push_str(&format!("        {n} = in(reg) {n},\n"));
        }
        out.push_str(&format!(
            "        rseq_cs = const 8usize,\n        field = const 4usize,\n        sig = const {sig}u32,\n"
        ));
        for n in asm.scratch.iter().chain(&lowered.load_regs) {
            out.push_str(&format!("        {n} = out(reg) _,\n"));
        }
        for (k, e) in lowered.exit_labels.iter().enumerate() {
            out.push_str(&format!("        {e} = label {{ return {}; }},\n", k + 1));
        }
        out.push_str(
            "        abort = label { return 100; },\n        options(nostack)\n    );\n    0\n}\n",
        );
    }
    out
}

/// Compiles [`no_core_source`] with the installed rustc for `target` (its own LLVM; no
/// standard library needed) and checks the object like the assembler tests do.
fn check_rustc(arch: &dyn Arch, target: &str, sig: u32, commit: &dyn Fn(&[u8]) -> bool) {
    let dir =
        std::env::temp_dir().join(format!("rseq-macros-rustc-{}-{target}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("sections.rs");
    let obj = dir.join("sections.o");
    std::fs::write(&src, no_core_source(arch, sig)).unwrap();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        // `no_core` and the built-in `asm!` need the unstable features of the compiler's
        // own test suite; nothing of this reaches the crate.
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "--target",
            target,
            "--crate-type=lib",
            "--emit=obj",
            "-O",
            "-o",
        ])
        .arg(&obj)
        .arg(&src)
        .output()
        .expect("running rustc");
    assert!(
        out.status.success(),
        "rustc rejected the sections for {target}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data = std::fs::read(&obj).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let exits = FAMILIES.iter().map(|f| f.2).sum();
    check_object(
        &Built { data },
        FAMILIES.len(),
        exits,
        sig.to_le_bytes(),
        &[],
        commit,
    );
}

/// The `asm!` blocks of every family go through rustc and LLVM for aarch64.
#[test]
fn aarch64_rustc_compiles_every_family() {
    check_rustc(
        &Aarch64,
        "aarch64-unknown-linux-gnu",
        0xd428_bc00,
        &aarch64_commit,
    );
}

/// The `asm!` blocks of every family go through rustc and LLVM for riscv64.
#[test]
fn riscv64_rustc_compiles_every_family() {
    check_rustc(
        &Riscv64,
        "riscv64gc-unknown-linux-gnu",
        0xf140_1073,
        &riscv64_commit,
    );
}
