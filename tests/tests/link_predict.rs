//! Static link prediction against the real linkers.
//!
//! Every scenario is a command line built from small C inputs (objects, archives, shared
//! libraries) compiled at test time from `tests/fixtures/link/c`. Each line is linked for real
//! with GNU ld (`-fuse-ld=bfd`) and with lld (`-fuse-ld=lld`), the produced file is read back
//! with `object` (`.symtab`, `.dynsym`, `DT_NEEDED`, dynamic relocations) or the linker's
//! error message is classified, and the prediction for that linker must agree. Definitions of
//! `__rseq_abi` have distinct sizes, so the size in the output tells which one landed.

use std::path::Path;
use std::process::Command;

use object::{Object, ObjectSymbol, ObjectSymbolTable, RelocationTarget};
use rseq_link_check::__fuzz::link::{
    predict, LinkLine, LinkPrediction, LinkerFlavor, OutcomeState, PredictOptions, RejectionKind,
    SearchConfig,
};

const SYM: &str = "__rseq_abi";

struct Lab {
    dir: tempfile::TempDir,
    search: SearchConfig,
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/link/c");
        let lab = Lab {
            dir,
            search: SearchConfig::from_compiler("cc"),
        };
        for f in [
            "strong32",
            "strong64",
            "weak48",
            "weak40",
            "nontls64",
            "main_use",
            "main_noref",
            "lib_use",
            "nontls_ref",
            "main_weakref",
        ] {
            run(Command::new("cc")
                .args(["-c", "-fPIC", "-O1", "-o"])
                .arg(lab.p(&format!("{f}.o")))
                .arg(src.join(format!("{f}.c"))));
        }
        for (lib, obj) in [("s64", "strong64"), ("s32", "strong32"), ("w48", "weak48")] {
            run(Command::new("ar")
                .arg("rcs")
                .arg(lab.p(&format!("lib{lib}.a")))
                .arg(lab.p(&format!("{obj}.o"))));
        }
        for (lib, obj) in [("s64", "strong64"), ("s32", "strong32")] {
            // Shared libraries live in their own directory so that `-l` can pick either kind.
            let so_dir = lab.dir.path().join("so");
            std::fs::create_dir_all(&so_dir).unwrap();
            run(Command::new("cc")
                .args(["-shared", "-fuse-ld=bfd", "-o"])
                .arg(so_dir.join(format!("lib{lib}.so")))
                .arg(lab.p(&format!("{obj}.o")))
                .arg(format!("-Wl,-soname,lib{lib}.so")));
        }
        // A shared library whose code uses (and leaves undefined) __rseq_abi.
        run(Command::new("cc")
            .args(["-shared", "-fuse-ld=bfd", "-o"])
            .arg(lab.so("libuse.so"))
            .arg(lab.p("lib_use.o"))
            .arg("-Wl,-soname,libuse.so"));
        std::fs::write(
            lab.p("local.map"),
            "{\n  global:\n    lib_use;\n\n  local:\n    *;\n};\n",
        )
        .unwrap();
        std::fs::write(lab.p("export.list"), "{ __rseq_abi; };\n").unwrap();
        lab
    }

    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn so(&self, name: &str) -> String {
        self.dir.path().join("so").join(name).display().to_string()
    }
}

/// What the real linker produced.
#[derive(Debug)]
struct Actual {
    ok: bool,
    stderr: String,
    /// `__rseq_abi` in `.symtab`: (defined, size, binding: "local"/"global"/"weak").
    symtab: Option<(bool, u64, &'static str)>,
    /// `__rseq_abi` in `.dynsym`: defined?
    dynsym: Option<bool>,
    needed: Vec<String>,
    /// Dynamic relocations that name `__rseq_abi`.
    dyn_relocs: usize,
    /// `DT_FLAGS` has `DF_SYMBOLIC` (the loader looks in the object itself first).
    symbolic: bool,
}

fn binding_name(s: &object::Symbol<'_, '_>) -> &'static str {
    if s.is_local() {
        "local"
    } else if s.is_weak() {
        "weak"
    } else {
        "global"
    }
}

type Facts = (
    Option<(bool, u64, &'static str)>,
    Option<bool>,
    Vec<String>,
    usize,
    bool,
);

fn read_output(path: &Path) -> Facts {
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let symtab = file
        .symbols()
        .filter(|s| s.name() == Ok(SYM))
        .max_by_key(|s| !s.is_undefined())
        .map(|s| (!s.is_undefined(), s.size(), binding_name(&s)));
    let dynsym = file
        .dynamic_symbols()
        .find(|s| s.name() == Ok(SYM))
        .map(|s| !s.is_undefined());
    let mut dyn_relocs = 0;
    if let Some(relocs) = file.dynamic_relocations() {
        for (_, r) in relocs {
            if let RelocationTarget::Symbol(i) = r.target() {
                let dynsym = file.dynamic_symbol_table();
                if dynsym.is_some_and(|t| t.symbol_by_index(i).is_ok_and(|s| s.name() == Ok(SYM))) {
                    dyn_relocs += 1;
                }
            }
        }
    }
    let out = Command::new("readelf")
        .arg("-dW")
        .arg(path)
        .output()
        .unwrap();
    let dynamic = String::from_utf8_lossy(&out.stdout).into_owned();
    let symbolic = dynamic
        .lines()
        .any(|l| l.contains("(FLAGS)") && l.contains("SYMBOLIC"));
    let needed = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| {
            l.split('[')
                .nth(1)
                .map(|s| s.trim_end_matches(']').to_string())
        })
        .collect();
    (symtab, dynsym, needed, dyn_relocs, symbolic)
}

fn flag(f: LinkerFlavor) -> &'static str {
    match f {
        LinkerFlavor::GnuLd => "-fuse-ld=bfd",
        LinkerFlavor::Lld => "-fuse-ld=lld",
    }
}

fn link(lab: &Lab, args: &[String], flavor: LinkerFlavor, out: &str) -> Actual {
    let _ = std::fs::remove_file(out);
    let o = Command::new("cc")
        .arg(flag(flavor))
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    let _ = lab;
    let ok = o.status.success();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    if !ok {
        return Actual {
            ok,
            stderr,
            symtab: None,
            dynsym: None,
            needed: Vec::new(),
            dyn_relocs: 0,
            symbolic: false,
        };
    }
    let (symtab, dynsym, needed, dyn_relocs, symbolic) = read_output(Path::new(out));
    Actual {
        ok,
        stderr,
        symtab,
        dynsym,
        needed,
        dyn_relocs,
        symbolic,
    }
}

fn classify(stderr: &str) -> RejectionKind {
    if stderr.contains("multiple definition") || stderr.contains("duplicate symbol") {
        RejectionKind::MultipleDefinition
    } else if stderr.contains("TLS") {
        RejectionKind::TlsMismatch
    } else if stderr.contains("undefined") {
        RejectionKind::Undefined
    } else {
        RejectionKind::MissingInput
    }
}

/// Links `args` with both linkers, predicts each, and asserts agreement. Returns the pairs.
fn check(lab: &Lab, name: &str, args: &[String]) -> Vec<(LinkPrediction, Actual)> {
    let mut results = Vec::new();
    let started = std::time::Instant::now();
    for flavor in [LinkerFlavor::GnuLd, LinkerFlavor::Lld] {
        let out = lab.p(&format!(
            "{name}.{}.out",
            flavor.display_name().replace(' ', "")
        ));
        let actual = link(lab, args, flavor, &out);
        let mut full: Vec<String> = vec![flag(flavor).to_string()];
        full.extend(args.iter().cloned());
        full.extend(["-o".to_string(), out.clone()]);
        let line = LinkLine::parse(&full).unwrap();
        assert_eq!(line.flavor, flavor);
        let opts = PredictOptions {
            search: lab.search.clone(),
            ..PredictOptions::default()
        };
        let p = predict(&line, &opts).unwrap();
        let ctx = format!(
            "scenario {name} with {}: args {args:?}\nactual {actual:#?}\nprediction {:#?}",
            flavor.display_name(),
            p
        );
        if !actual.ok {
            let kind = classify(&actual.stderr);
            assert!(
                p.rejections.iter().any(|r| r.kind == kind),
                "linker failed with {kind:?} but the prediction does not say so\n{ctx}"
            );
        } else {
            assert!(
                p.rejections.is_empty(),
                "linker succeeded, prediction rejects\n{ctx}"
            );
            let o = &p.outcome;
            match o.state {
                OutcomeState::Defined => {
                    let (def, size, bind) = actual.symtab.expect(&ctx);
                    assert!(def, "{ctx}");
                    assert_eq!(Some(size), o.size, "size (which definition) differs\n{ctx}");
                    assert_eq!(
                        actual.dynsym == Some(true),
                        o.in_dynsym,
                        ".dynsym differs\n{ctx}"
                    );
                    let local = bind == "local";
                    assert_eq!(
                        local,
                        o.local_reason.is_some() && o.visibility.is_some_and(|v| v.is_hidden())
                            || local && !o.in_dynsym,
                        "{ctx}"
                    );
                    if !local {
                        assert_eq!(Some(bind), o.binding.map(|b| b.as_str()), "binding\n{ctx}");
                    }
                }
                OutcomeState::Dynamic => {
                    assert_eq!(
                        actual.dynsym,
                        Some(false),
                        "expected an undefined .dynsym entry\n{ctx}"
                    );
                }
                OutcomeState::DroppedByGc | OutcomeState::Absent => {
                    assert!(
                        actual.symtab.is_none_or(|(d, _, _)| !d),
                        "expected no definition in the output\n{ctx}"
                    );
                    assert_eq!(actual.dynsym, None, "{ctx}");
                }
                OutcomeState::UndefinedWeak => {
                    assert_eq!(actual.symtab.is_some(), o.in_symtab, ".symtab\n{ctx}");
                    if o.in_symtab {
                        assert!(
                            actual.symtab.is_some_and(|(d, _, b)| !d && b == "weak"),
                            "{ctx}"
                        );
                    }
                    assert_eq!(
                        actual.dynsym,
                        o.in_dynsym.then_some(false),
                        ".dynsym\n{ctx}"
                    );
                }
                OutcomeState::Undefined => {
                    // Only a shared library links with a non-weak reference nothing defines;
                    // its .dynsym keeps the undefined entry.
                    assert!(
                        !p.output_kind.is_executable(),
                        "linked although undefined\n{ctx}"
                    );
                    assert!(o.in_dynsym, "{ctx}");
                    assert_eq!(actual.dynsym, Some(false), "{ctx}");
                }
            }
            // DT_NEEDED agrees for every shared library on the line.
            for n in &p.needed {
                let soname = n.soname.clone().unwrap_or_default();
                assert_eq!(
                    actual.needed.contains(&soname),
                    n.needed,
                    "DT_NEEDED {soname}\n{ctx}"
                );
            }
        }
        results.push((p, actual));
    }
    if std::env::var_os("LINK_PREDICT_TIMES").is_some() {
        eprintln!("{name}: {:?}", started.elapsed());
    }
    // The prediction says whether the other linker differs; that must match reality too.
    let (gnu, lld) = (&results[0], &results[1]);
    let real_differ = gnu.1.ok != lld.1.ok
        || gnu.1.symtab.map(|s| (s.0, s.1)) != lld.1.symtab.map(|s| (s.0, s.1));
    assert_eq!(
        gnu.0.other_linker.is_some() && lld.0.other_linker.is_some(),
        real_differ,
        "scenario {name}: linkers-differ prediction {:?} vs reality {real_differ}\n{:#?}\n{:#?}",
        gnu.0.other_linker,
        gnu.1,
        lld.1
    );
    results
}

fn args(lab: &Lab, items: &[&str]) -> Vec<String> {
    items
        .iter()
        .map(|s| {
            if let Some(f) = s.strip_prefix('%') {
                lab.p(f)
            } else if let Some(f) = s.strip_prefix('^') {
                lab.so(f)
            } else {
                s.to_string()
            }
        })
        .collect()
}

fn code_present(p: &LinkPrediction, code: &str) -> bool {
    p.diagnostics.iter().any(|d| d.code.as_str() == code)
}

#[test]
fn archives_objects_and_shared_libraries() {
    let lab = Lab::new();

    // An object's definition beats the archive's: the member is never loaded.
    let r = check(
        &lab,
        "obj_then_archive",
        &args(&lab, &["%main_use.o", "%strong32.o", "%libs64.a"]),
    );
    assert_eq!(r[0].1.symtab.map(|s| s.1), Some(32));

    // The archive precedes its only user: GNU ld skips it (undefined), lld loads it.
    let r = check(
        &lab,
        "archive_before_user",
        &args(&lab, &["%libs64.a", "%main_use.o"]),
    );
    assert!(!r[0].1.ok && r[1].1.ok);
    assert!(code_present(&r[0].0, "linkers-disagree"));

    // A shared library earlier on the line stops extraction from a later archive.
    let r = check(
        &lab,
        "shared_then_archive",
        &args(&lab, &["%main_use.o", "^libs64.so", "%libs32.a"]),
    );
    assert_eq!(r[0].0.outcome.state, OutcomeState::Dynamic);
    // The archive first: its member wins. The shared library then satisfies nothing, so the
    // driver's default --as-needed drops it ...
    check(
        &lab,
        "archive_then_shared",
        &args(&lab, &["%main_use.o", "%libs32.a", "^libs64.so"]),
    );
    // ... and without --as-needed it stays, and its definition exports the executable's.
    let r = check(
        &lab,
        "archive_then_shared_no_as_needed",
        &args(
            &lab,
            &[
                "-Wl,--no-as-needed",
                "%main_use.o",
                "%libs32.a",
                "^libs64.so",
            ],
        ),
    );
    assert_eq!(r[0].1.dynsym, Some(true));
    assert!(code_present(&r[0].0, "link-size-mismatch"));
    // An object's definition wins over a shared library's even when it comes later.
    check(
        &lab,
        "shared_then_object",
        &args(&lab, &["%main_use.o", "^libs64.so", "%strong32.o"]),
    );
}

#[test]
fn weak_strong_whole_archive_and_as_needed() {
    let lab = Lab::new();

    // Strong over weak, first weak among weak ones.
    let r = check(
        &lab,
        "weak_then_strong",
        &args(&lab, &["%main_use.o", "%weak48.o", "%strong64.o"]),
    );
    assert_eq!(r[0].1.symtab.map(|s| s.1), Some(64));
    assert!(code_present(&r[0].0, "link-size-mismatch"));
    check(
        &lab,
        "weak_weak",
        &args(&lab, &["%main_use.o", "%weak40.o", "%weak48.o"]),
    );
    // A weak definition is a definition: the archive's strong one is not pulled.
    check(
        &lab,
        "weak_then_archive",
        &args(&lab, &["%main_use.o", "%weak48.o", "%libs64.a"]),
    );
    // --whole-archive loads the strong member anyway, and it replaces the weak one.
    let r = check(
        &lab,
        "whole_archive",
        &args(
            &lab,
            &[
                "%main_use.o",
                "%weak48.o",
                "-Wl,--whole-archive",
                "%libs64.a",
                "-Wl,--no-whole-archive",
            ],
        ),
    );
    assert_eq!(r[0].1.symtab.map(|s| s.1), Some(64));

    // --as-needed: dropped when nothing uses it; kept when the reference comes first.
    check(
        &lab,
        "as_needed_unused",
        &args(&lab, &["%main_noref.o", "-Wl,--as-needed", "^libs64.so"]),
    );
    check(
        &lab,
        "as_needed_used",
        &args(&lab, &["%main_use.o", "-Wl,--as-needed", "^libs64.so"]),
    );
    check(
        &lab,
        "as_needed_before_user",
        &args(
            &lab,
            &[
                "-Wl,--as-needed",
                "^libs64.so",
                "-Wl,--no-as-needed",
                "%main_use.o",
            ],
        ),
    );
}

#[test]
fn library_search_and_gc_sections() {
    let lab = Lab::new();
    let sodir = lab.dir.path().join("so").display().to_string();

    // -Bstatic/-Bdynamic choose between libs64.a and libs64.so in the same directory.
    std::fs::copy(lab.p("libs64.a"), lab.dir.path().join("so/libs64.a")).unwrap();
    check(
        &lab,
        "bstatic",
        &args(
            &lab,
            &[
                "%main_use.o",
                "-L",
                &sodir,
                "-Wl,-Bstatic",
                "-ls64",
                "-Wl,-Bdynamic",
            ],
        ),
    );
    check(
        &lab,
        "bdynamic",
        &args(&lab, &["%main_use.o", "-L", &sodir, "-ls64"]),
    );
    check(
        &lab,
        "l_colon",
        &args(&lab, &["%main_use.o", "-L", &sodir, "-l:libs64.a"]),
    );

    // --gc-sections drops an unreferenced definition from an executable...
    let r = check(
        &lab,
        "gc_drops",
        &args(&lab, &["%main_noref.o", "%weak48.o", "-Wl,--gc-sections"]),
    );
    assert_eq!(r[0].0.outcome.state, OutcomeState::DroppedByGc);
    assert!(code_present(&r[0].0, "gc-drops-definition"));
    // ... unless it is exported (or referenced).
    check(
        &lab,
        "gc_export_dynamic",
        &args(
            &lab,
            &[
                "%main_noref.o",
                "%weak48.o",
                "-Wl,--gc-sections",
                "-Wl,--export-dynamic",
            ],
        ),
    );
    let list = format!("-Wl,--dynamic-list={}", lab.p("export.list"));
    check(
        &lab,
        "gc_dynamic_list",
        &args(
            &lab,
            &["%main_noref.o", "%weak48.o", "-Wl,--gc-sections", &list],
        ),
    );
    // The executable export rseq-abi documents for `bin`s: one symbol, by name.
    check(
        &lab,
        "gc_export_dynamic_symbol",
        &args(
            &lab,
            &[
                "%main_noref.o",
                "%weak48.o",
                "-Wl,--gc-sections",
                "-Wl,--export-dynamic-symbol=__rseq_abi",
            ],
        ),
    );
    check(
        &lab,
        "gc_referenced",
        &args(&lab, &["%main_use.o", "%weak48.o", "-Wl,--gc-sections"]),
    );
}

#[test]
fn shared_library_outputs() {
    let lab = Lab::new();

    // A shared library whose version script makes __rseq_abi local keeps a private copy.
    let map = format!("-Wl,--version-script={}", lab.p("local.map"));
    let r = check(
        &lab,
        "version_script_local",
        &args(&lab, &["-shared", "%lib_use.o", "%strong32.o", &map]),
    );
    assert_eq!(r[0].1.symtab.map(|s| s.2), Some("local"));
    assert!(code_present(&r[0].0, "version-script-local"));
    // The same library with gc: the private copy is still used, so it survives.
    check(
        &lab,
        "version_script_local_gc",
        &args(
            &lab,
            &[
                "-shared",
                "%lib_use.o",
                "%strong32.o",
                &map,
                "-Wl,--gc-sections",
            ],
        ),
    );
    // Exported, interposable: the library's own accesses go through dynamic relocations.
    let r = check(
        &lab,
        "shared_exported",
        &args(&lab, &["-shared", "%lib_use.o", "%strong32.o"]),
    );
    assert!(r[0].1.dyn_relocs > 0 && !r[0].0.outcome.binds_locally);
    // -Bsymbolic: still exported, but the library's accesses bind to its own copy: either
    // resolved at link time or through DF_SYMBOLIC, which makes the loader look in the
    // library itself first (GNU ld keeps the symbolic TLS relocations and sets the flag).
    let r = check(
        &lab,
        "bsymbolic",
        &args(
            &lab,
            &["-shared", "%lib_use.o", "%strong32.o", "-Wl,-Bsymbolic"],
        ),
    );
    for (p, a) in &r {
        assert!(a.dyn_relocs > 0 || a.symbolic);
        assert_eq!(
            a.dyn_relocs == 0 || a.symbolic,
            p.outcome.binds_locally,
            "{p:#?} {a:#?}"
        );
    }
    // -Bsymbolic-functions binds functions only: the TLS area stays interposable.
    let r = check(
        &lab,
        "bsymbolic_functions",
        &args(
            &lab,
            &[
                "-shared",
                "%lib_use.o",
                "%strong32.o",
                "-Wl,-Bsymbolic-functions",
            ],
        ),
    );
    for (p, a) in &r {
        assert_eq!(
            a.dyn_relocs == 0 || a.symbolic,
            p.outcome.binds_locally,
            "{p:#?} {a:#?}"
        );
    }
}

#[test]
fn static_links_and_rejections() {
    let lab = Lab::new();

    // -static: no .dynsym at all.
    check(
        &lab,
        "static",
        &args(&lab, &["-static", "%main_use.o", "%strong32.o"]),
    );

    // What the linkers reject: two strong definitions, TLS meeting non-TLS.
    let r = check(
        &lab,
        "two_strong",
        &args(&lab, &["%main_use.o", "%strong32.o", "%strong64.o"]),
    );
    assert!(code_present(&r[0].0, "link-rejected"));
    check(
        &lab,
        "tls_vs_nontls_def",
        &args(&lab, &["%main_noref.o", "%strong32.o", "%nontls64.o"]),
    );
    check(
        &lab,
        "tls_ref_vs_nontls",
        &args(&lab, &["%main_use.o", "%nontls64.o"]),
    );
    check(
        &lab,
        "nontls_then_tls_ref",
        &args(&lab, &["%nontls64.o", "%main_use.o"]),
    );
    // Where the two linkers part ways: GNU ld checks every pair, lld only a replacement.
    check(
        &lab,
        "weak_tls_then_nontls",
        &args(&lab, &["%main_noref.o", "%weak48.o", "%nontls64.o"]),
    );
    let r = check(
        &lab,
        "nontls_then_weak_tls",
        &args(&lab, &["%main_noref.o", "%nontls64.o", "%weak48.o"]),
    );
    assert!(!r[0].1.ok && r[1].1.ok);
    let r = check(
        &lab,
        "tls_def_plain_ref",
        &args(&lab, &["%main_noref.o", "%strong32.o", "%nontls_ref.o"]),
    );
    assert!(!r[0].1.ok && r[1].1.ok);

    // The same line through a response file, as rustc writes it for long lines.
    let rsp = lab.p("link.rsp");
    std::fs::write(
        &rsp,
        args(
            &lab,
            &[
                "%main_use.o",
                "%weak48.o",
                "-Wl,--whole-archive",
                "%libs64.a",
                "-Wl,--no-whole-archive",
            ],
        )
        .iter()
        .map(|a| a.replace('\\', "\\\\").replace(' ', "\\ "))
        .collect::<Vec<_>>()
        .join("\n"),
    )
    .unwrap();
    check(&lab, "response_file", &[format!("@{rsp}")]);
}

#[test]
fn shared_library_references_and_weak_tls() {
    let lab = Lab::new();

    // --no-allow-shlib-undefined (the default for executables): libuse.so references
    // __rseq_abi, and the archive that defines it stands before the library. GNU ld has
    // passed the archive when the reference appears and fails; lld loads the member.
    let r = check(
        &lab,
        "shlib_ref_archive_before",
        &args(
            &lab,
            &[
                "%main_noref.o",
                "%libs32.a",
                "-L",
                &lab.so(""),
                "-Wl,--no-as-needed",
                "-luse",
            ],
        ),
    );
    assert!(!r[0].1.ok && r[1].1.ok, "{:?}", (&r[0].1, &r[1].1));
    assert!(r[0].1.stderr.contains("libuse.so: undefined reference to"));
    assert!(code_present(&r[0].0, "link-rejected"));
    assert!(code_present(&r[0].0, "linkers-disagree"));
    let other = r[0].0.other_linker.as_ref().expect("lld differs");
    assert!(other.rejections.is_empty());
    // Twin: the archive after the library satisfies the reference for both linkers.
    let r = check(
        &lab,
        "shlib_ref_archive_after",
        &args(
            &lab,
            &[
                "%main_noref.o",
                "-L",
                &lab.so(""),
                "-Wl,--no-as-needed",
                "-luse",
                "%libs32.a",
            ],
        ),
    );
    assert!(r[0].1.ok && r[1].1.ok);
    assert!(!code_present(&r[0].0, "link-rejected"));
    assert!(!code_present(&r[0].0, "linkers-disagree"));
    // Nothing defines it: both fail. Under --as-needed GNU ld drops the library unread and
    // succeeds, lld still checks it and fails.
    let r = check(
        &lab,
        "shlib_ref_nothing",
        &args(
            &lab,
            &[
                "%main_noref.o",
                "-L",
                &lab.so(""),
                "-Wl,--no-as-needed",
                "-luse",
            ],
        ),
    );
    assert!(!r[0].1.ok && !r[1].1.ok);
    let r = check(
        &lab,
        "shlib_ref_as_needed",
        &args(
            &lab,
            &[
                "%main_noref.o",
                "-L",
                &lab.so(""),
                "-Wl,--as-needed",
                "-luse",
            ],
        ),
    );
    assert!(r[0].1.ok && !r[1].1.ok);

    // A shared library referencing __rseq_abi that nothing on the line defines: its
    // .dynsym holds the undefined entry, for both linkers.
    let r = check(
        &lab,
        "shared_undefined",
        &args(&lab, &["-shared", "%lib_use.o"]),
    );
    for (p, _) in &r {
        assert_eq!(p.outcome.state, OutcomeState::Undefined);
        assert!(p.outcome.in_dynsym);
    }

    // A weak undefined TLS reference in an executable: GNU ld resolves it to 0 at link time
    // (no entry in either table), lld keeps an undefined weak .dynsym entry.
    for (name, extra) in [("weak_tls_pie", "-pie"), ("weak_tls_no_pie", "-no-pie")] {
        let r = check(&lab, name, &args(&lab, &[extra, "%main_weakref.o"]));
        assert!(!r[0].0.outcome.in_dynsym && !r[0].0.outcome.in_symtab);
        assert!(r[1].0.outcome.in_dynsym && r[1].0.outcome.in_symtab);
        assert!(code_present(&r[0].0, "linkers-disagree"));
    }
    // Twin: in a shared library both linkers keep the undefined weak entry.
    let r = check(
        &lab,
        "weak_tls_shared",
        &args(&lab, &["-shared", "%main_weakref.o"]),
    );
    for (p, _) in &r {
        assert!(p.outcome.in_dynsym && p.outcome.in_symtab);
        assert!(!code_present(p, "linkers-disagree"));
    }
}
