//! The loader scenario corpus. Every scenario is built with gcc at test time, run for real
//! (`LD_DEBUG=bindings`, probes printing addresses), and the analyser must agree with what
//! the real loader did. Diagnostics are shown to fire on a broken scenario and not on its
//! clean twin; where the breakage is observable at run time (EBUSY, EINVAL, a refused start,
//! a failed dlopen), the real program shows it too.

mod harness;

use harness::*;
use std::process::Command;

use rseq_link_check::{DlopenMode, KernelRseq, Options, Severity};

const RSEQ: &str = "__rseq_abi";

fn has(codes: &std::collections::BTreeSet<String>, code: &str) -> bool {
    codes.contains(code)
}

/// The executable's exported definition interposes: a library defining and using the same
/// symbol binds to the executable's copy.
#[test]
fn executable_definition_in_dynsym_interposes() {
    let sc = Sc::new();
    sc.lib("liba.so", &def_src("liba.so", RSEQ, 32, true, ""), &[]);
    sc.exe(
        "main",
        &main_src(&def_src("main", RSEQ, 32, true, ""), &["main", "liba.so"]),
        &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
    );
    let real = sc.run("main", &[]);
    let p = sc.model("main", Options::default());
    assert_agrees(&real, &p, RSEQ);
    assert_eq!(real.binds_to("liba.so").as_deref(), Some("main"));
    let c = codes(&p);
    assert!(
        !has(&c, "split-instance") && !has(&c, "size-mismatch"),
        "{c:?}"
    );
    // glibc 2.35+ registers its own area: every module defining __rseq_abi is flagged.
    assert!(has(&c, "glibc-owns-registration"), "{c:?}");
}

/// An executable definition that is not in .dynsym (the executable was linked against a
/// library that did not define the symbol) keeps a private copy: the process splits.
#[test]
fn executable_definition_missing_from_dynsym_splits() {
    let sc = Sc::new();
    sc.lib("liba.so", "void probe_liba_so(void) {}\n", &[]);
    sc.exe(
        "main",
        &main_src(&def_src("main", RSEQ, 32, true, ""), &["main", "liba.so"]),
        &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
    );
    // The library is upgraded after the link to one that defines and uses __rseq_abi.
    sc.lib("liba.so", &def_src("liba.so", RSEQ, 32, true, ""), &[]);
    let real = sc.run("main", &[]);
    let p = sc.model("main", Options::default());
    assert_agrees(&real, &p, RSEQ);
    assert_ne!(
        real.seen["main"], real.seen["liba.so"],
        "the real process split"
    );
    let r = rseq_link_check::resolve(&p, RSEQ);
    let exe_def = r
        .definitions
        .iter()
        .find(|d| d.module.ends_with("/main"))
        .unwrap();
    assert!(
        !exe_def.exported,
        "the executable's copy is only in .symtab"
    );
    assert!(has(&codes(&p), "split-instance"));
}

/// The global scope is breadth-first: a definition in a direct dependency wins over one in a
/// dependency of an earlier dependency. With different sizes the smaller winner is flagged;
/// the clean twin has equal sizes.
#[test]
fn breadth_first_scope_and_size_findings() {
    for (deep, b, expect) in [
        (64, 32, Some("winner-too-small")),
        (32, 64, Some("size-mismatch")),
        (32, 32, None),
    ] {
        let sc = Sc::new();
        sc.lib(
            "libdeep.so",
            &def_src("libdeep.so", RSEQ, deep, true, ""),
            &[],
        );
        sc.lib(
            "liba.so",
            "void probe_liba_so(void) {}\n",
            &["-L.", "-ldeep", "-Wl,-rpath,$ORIGIN"],
        );
        sc.lib("libb.so", &def_src("libb.so", RSEQ, b, true, ""), &[]);
        sc.exe(
            "main",
            &main_src("", &["libdeep.so", "libb.so"]),
            &[
                "-L.",
                "-la",
                "-lb",
                "-ldeep",
                "-Wl,-rpath,$ORIGIN",
                "-Wl,--no-as-needed",
            ],
        );
        let real = sc.run("main", &[]);
        let p = sc.model("main", Options::default());
        assert_agrees(&real, &p, RSEQ);
        // Breadth-first: libb (a direct dependency) is searched before libdeep.
        assert_eq!(real.binds_to("libdeep.so").as_deref(), Some("libb.so"));
        let c = codes(&p);
        for code in ["winner-too-small", "size-mismatch"] {
            assert_eq!(
                has(&c, code),
                Some(code) == expect,
                "{deep}/{b}: {code} in {c:?}"
            );
        }
    }
}

/// LD_PRELOAD comes right after the executable in the global scope.
#[test]
fn preload_interposes() {
    let sc = Sc::new();
    sc.lib("liba.so", &def_src("liba.so", RSEQ, 32, true, ""), &[]);
    sc.lib("libp.so", &def_src("libp.so", RSEQ, 32, true, ""), &[]);
    sc.exe(
        "main",
        &main_src("", &["liba.so"]),
        &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
    );
    let pre = sc.s("libp.so");
    let real = sc.run("main", &[("LD_PRELOAD", &pre)]);
    let p = sc.model(
        "main",
        Options {
            preload: Options::split_preload(&pre),
            ..Options::default()
        },
    );
    assert_agrees(&real, &p, RSEQ);
    assert_eq!(real.binds_to("liba.so").as_deref(), Some("libp.so"));
    // The same library named in an ld.so.preload file has the same effect (the system file
    // is not touched; the real run above stands for it).
    sc.file("ld.so.preload", &format!("{pre}\n"));
    let p = sc.model(
        "main",
        Options {
            preload_file: Some(sc.p("ld.so.preload")),
            ..Options::default()
        },
    );
    assert_agrees(&real, &p, RSEQ);
    // Without the preload the library uses its own definition.
    let real = sc.run("main", &[]);
    let p = sc.model("main", Options::default());
    assert_agrees(&real, &p, RSEQ);
}

/// Private copies: protected visibility, hidden visibility, a version-script local symbol,
/// and -Bsymbolic all keep the library on its own definition while the executable exports
/// one: two instances. The clean twin (default visibility) binds to the executable.
#[test]
fn private_copies_split_the_process() {
    let cases: [(&str, &str, &[&str]); 5] = [
        ("protected", ", visibility(\"protected\")", &[]),
        ("hidden", ", visibility(\"hidden\")", &[]),
        (
            "version-script-local",
            "",
            &["-Wl,--version-script=local.map"],
        ),
        ("bsymbolic", "", &["-Wl,-Bsymbolic"]),
        ("clean", "", &[]),
    ];
    for (name, attrs, flags) in cases {
        let sc = Sc::new();
        sc.file("local.map", "{ global: probe_liba_so; local: *; };\n");
        sc.lib("liba.so", &def_src("liba.so", RSEQ, 32, true, attrs), flags);
        sc.exe(
            "main",
            &main_src(&def_src("main", RSEQ, 32, true, ""), &["main", "liba.so"]),
            &["-L.", "-la", "-Wl,-rpath,$ORIGIN", "-rdynamic"],
        );
        let real = sc.run("main", &[]);
        let p = sc.model("main", Options::default());
        assert_agrees(&real, &p, RSEQ);
        let split = real.seen["main"] != real.seen["liba.so"];
        assert_eq!(split, name != "clean", "{name}: real split");
        assert_eq!(has(&codes(&p), "split-instance"), split, "{name}");
    }
}

const V1_MAP: &str = "V1 { global: foo; probe_libv_so; local: *; };\n";
const V12_MAP: &str = "V1 { global: foo; probe_libv_so; local: *; };\nV2 { global: foo; } V1;\n";
const V2_ONLY_MAP: &str = "V2 { global: foo; probe_libv_so; local: *; };\n";

/// A library with `foo@V1` (old) and `foo@@V2` (default) as two objects, and probes for both.
fn libv_two_versions() -> &'static str {
    "#include <stdio.h>\n\
     int foo_v1 = 1; int foo_v2 = 2;\n\
     __asm__(\".symver foo_v1, foo@V1\");\n\
     __asm__(\".symver foo_v2, foo@@V2\");\n\
     void probe_libv_so(void) {\n\
       printf(\"own libv.so@V1 %p\\n\", (void *)&foo_v1);\n\
       printf(\"own libv.so@V2 %p\\n\", (void *)&foo_v2);\n\
     }\n"
}

fn main_uses_foo() -> String {
    "#include <stdio.h>\nextern int foo;\nvoid probe_libv_so(void);\n\
     int main(void) { probe_libv_so(); printf(\"value %d\\n\", foo); return 0; }\n"
        .to_string()
}

/// Symbol versions: a reference to foo@V1 takes the old, hidden definition (exact match);
/// an unversioned reference takes the oldest version; an unversioned definition satisfies a
/// versioned reference.
#[test]
fn symbol_versions_follow_check_match() {
    let sc = Sc::new();
    // Built against a V1-only library: the executable needs foo@V1.
    sc.file("v1.map", V1_MAP);
    sc.lib(
        "libv.so",
        "int foo = 1;\nvoid probe_libv_so(void) {}\n",
        &["-Wl,--version-script=v1.map"],
    );
    sc.exe(
        "main_v1",
        &main_uses_foo(),
        &["-L.", "-lv", "-Wl,-rpath,$ORIGIN"],
    );
    // Built against an unversioned library: the reference carries no version.
    sc.lib(
        "libv.so",
        "int foo = 1;\nvoid probe_libv_so(void) {}\n",
        &[],
    );
    sc.exe(
        "main_unversioned",
        &main_uses_foo(),
        &["-L.", "-lv", "-Wl,-rpath,$ORIGIN"],
    );
    // At run time: both versions present.
    sc.file("v12.map", V12_MAP);
    sc.lib(
        "libv.so",
        libv_two_versions(),
        &["-Wl,--version-script=v12.map"],
    );
    for exe in ["main_v1", "main_unversioned"] {
        let real = sc.run(exe, &[]);
        assert_eq!(real.status, Some(0), "{}", real.stderr);
        let p = sc.model(exe, Options::default());
        assert_eq!(
            model_bindings_of(&p, "foo"),
            real.bindings_of("foo"),
            "{exe}"
        );
        // Which of the two objects did the executable get? (Its copy relocation copied the
        // initial value: 1 for foo@V1, 2 for foo@@V2.)
        let got = format!("libv.so@V{}", real.facts["value"]);
        let b = p
            .bindings()
            .into_iter()
            .find(|b| b.from == 0 && b.symbol == "foo")
            .unwrap();
        let def = p.modules[b.to.unwrap()]
            .file
            .dynamic_symbol(b.to_sym.unwrap())
            .unwrap();
        let ver = p.modules[b.to.unwrap()]
            .file
            .version(def.versym.unwrap() & 0x7fff)
            .unwrap();
        assert_eq!(got, format!("libv.so@{}", ver.name), "{exe}");
    }
    // An unversioned preloaded definition satisfies main_v1's versioned reference.
    sc.lib("libp.so", "int foo = 7;\n", &[]);
    let pre = sc.s("libp.so");
    let real = sc.run("main_v1", &[("LD_PRELOAD", &pre)]);
    let p = sc.model(
        "main_v1",
        Options {
            preload: vec![pre.clone()],
            ..Options::default()
        },
    );
    assert_eq!(model_bindings_of(&p, "foo"), real.bindings_of("foo"));
    assert!(real
        .bindings_of("foo")
        .iter()
        .any(|b| b.2.ends_with("libp.so")));
    assert_eq!(real.facts["value"], "7");
}

/// A required version that the library does not define: the loader refuses to start.
#[test]
fn missing_version_refuses_to_start() {
    let sc = Sc::new();
    sc.file("v2.map", V2_ONLY_MAP);
    sc.lib(
        "libv.so",
        "int foo = 1;\nvoid probe_libv_so(void) {}\n",
        &["-Wl,--version-script=v2.map"],
    );
    sc.exe(
        "main",
        &main_uses_foo(),
        &["-L.", "-lv", "-Wl,-rpath,$ORIGIN"],
    );
    let p = sc.model("main", Options::default());
    assert!(!has(&codes(&p), "missing-version"));
    assert_eq!(sc.run("main", &[]).status, Some(0));
    // Downgrade: only V1 is defined now.
    sc.file("v1.map", V1_MAP);
    sc.lib(
        "libv.so",
        "int foo = 1;\nvoid probe_libv_so(void) {}\n",
        &["-Wl,--version-script=v1.map"],
    );
    let real = sc.run("main", &[]);
    assert_ne!(real.status, Some(0));
    assert!(
        real.stderr.contains("version `V2' not found"),
        "{}",
        real.stderr
    );
    let p = sc.model("main", Options::default());
    assert!(p.refuses_to_start());
    assert_eq!(p.missing_versions[0].version, "V2");
    assert!(has(&codes(&p), "missing-version"));
}

/// Weak definitions end the lookup like global ones, unless LD_DYNAMIC_WEAK is set.
#[test]
fn weak_definitions_and_ld_dynamic_weak() {
    let sc = Sc::new();
    sc.lib(
        "liba.so",
        &def_src("liba.so", "foo", 32, false, "")
            .replace("struct {", "__attribute__((weak)) struct {"),
        &[],
    );
    sc.lib("libb.so", &def_src("libb.so", "foo", 32, false, ""), &[]);
    sc.exe(
        "main",
        &main_src("", &["liba.so", "libb.so"]),
        &["-L.", "-la", "-lb", "-Wl,-rpath,$ORIGIN"],
    );
    for weak in [false, true] {
        let env: &[(&str, &str)] = if weak {
            &[("LD_DYNAMIC_WEAK", "1")]
        } else {
            &[]
        };
        let real = sc.run("main", env);
        let p = sc.model(
            "main",
            Options {
                dynamic_weak: weak,
                ..Options::default()
            },
        );
        assert_agrees(&real, &p, "foo");
        let want = if weak { "libb.so" } else { "liba.so" };
        assert_eq!(
            real.binds_to("libb.so").as_deref(),
            Some(want),
            "LD_DYNAMIC_WEAK={weak}"
        );
    }
}

/// Simulated dlopen: RTLD_LOCAL and RTLD_GLOBAL search the global scope first (the
/// executable's definition wins); RTLD_DEEPBIND searches the library's own scope first.
#[test]
fn dlopen_local_global_deepbind() {
    let sc = Sc::new();
    sc.lib("libdd.so", &def_src("libdd.so", RSEQ, 32, true, ""), &[]);
    sc.lib(
        "libd.so",
        &ref_src("libd.so", RSEQ, true),
        &["-L.", "-ldd", "-Wl,-rpath,$ORIGIN"],
    );
    let main = format!(
        "#include <dlfcn.h>\n#include <stdlib.h>\n#include <string.h>\n{}\
         int main(int argc, char **argv) {{\n\
           const char *m = getenv(\"MODE\");\n\
           int mode = RTLD_NOW | (strcmp(m, \"global\") == 0 ? RTLD_GLOBAL : RTLD_LOCAL);\n\
           if (strcmp(m, \"deepbind\") == 0) mode |= RTLD_DEEPBIND;\n\
           probe_main();\n\
           void *h = dlopen(\"{}\", mode); if (!h) {{ puts(dlerror()); return 1; }}\n\
           ((void (*)(void))dlsym(h, \"probe_libd_so\"))();\n\
           ((void (*)(void))dlsym(h, \"probe_libdd_so\"))();\n\
           return 0;\n\
         }}\n",
        def_src("main", RSEQ, 32, true, ""),
        sc.s("libd.so")
    );
    sc.exe("main", &main, &["-rdynamic", "-ldl"]);
    for (mode, m) in [
        ("local", DlopenMode::Local),
        ("global", DlopenMode::Global),
        ("deepbind", DlopenMode::Deepbind),
    ] {
        let real = sc.run("main", &[("MODE", mode)]);
        assert_eq!(real.status, Some(0), "{}", real.stdout);
        let p = sc.model(
            "main",
            Options {
                dlopen: vec![(sc.s("libd.so"), m)],
                ..Options::default()
            },
        );
        assert_agrees(&real, &p, RSEQ);
        let want = if m == DlopenMode::Deepbind {
            "libdd.so"
        } else {
            "main"
        };
        assert_eq!(real.binds_to("libd.so").as_deref(), Some(want), "{mode}");
    }
}

/// DT_RPATH is inherited down the loading chain; DT_RUNPATH is not: with RUNPATH the
/// second-level library is not found and the loader refuses to start.
#[test]
fn rpath_inherited_runpath_not() {
    for dtags in ["--disable-new-dtags", "--enable-new-dtags"] {
        let sc = Sc::new();
        sc.file("sub/.keep", "");
        sc.lib("sub/libb.so", &def_src("libb.so", RSEQ, 32, true, ""), &[]);
        sc.lib(
            "sub/liba.so",
            &ref_src("liba.so", RSEQ, true),
            &["-Lsub", "-lb"],
        );
        let dt = format!("-Wl,{dtags}");
        // The executable needs only liba; liba needs libb and has no search path of its own.
        sc.exe(
            "main",
            "void probe_liba_so(void);\nint main(void) { probe_liba_so(); return 0; }\n",
            &[
                "-Lsub",
                "-la",
                "-Wl,-rpath-link,sub",
                "-Wl,-rpath,$ORIGIN/sub",
                dt.as_str(),
            ],
        );
        let real = sc.run("main", &[]);
        let p = sc.model("main", Options::default());
        if dtags == "--disable-new-dtags" {
            assert_eq!(real.status, Some(0), "{}", real.stderr);
            assert!(!p.refuses_to_start());
            assert_agrees(&real, &p, RSEQ);
            assert!(real
                .bindings_of(RSEQ)
                .iter()
                .any(|b| b.2.ends_with("/sub/libb.so")));
        } else {
            assert_ne!(real.status, Some(0));
            assert!(
                real.stderr
                    .contains("libb.so: cannot open shared object file"),
                "{}",
                real.stderr
            );
            assert!(p.refuses_to_start());
            assert_eq!(p.missing[0].name, "libb.so");
            assert!(has(&codes(&p), "missing-dependency"));
        }
    }
}

/// The real loader's `$PLATFORM` (`dl_platform`, which glibc sets from the CPU's features:
/// `haswell` on many Intel CPUs, not `AT_PLATFORM`), from `ld.so --list-diagnostics`.
fn real_platform() -> String {
    let out = Command::new("/lib64/ld-linux-x86-64.so.2")
        .arg("--list-diagnostics")
        .output()
        .expect("ld.so runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("dl_platform="))
        .expect("dl_platform in the diagnostics");
    line.trim_matches('"').to_string()
}

/// LD_LIBRARY_PATH, `$ORIGIN`, `$LIB` and `$PLATFORM`: the paths the loader reports. The
/// library found through `$PLATFORM` sits in the directory the real loader expands it to,
/// and the model must expand it the same way.
#[test]
fn search_path_tokens_and_library_path() {
    let platform = real_platform();
    assert_eq!(
        rseq_link_check::__fuzz::loader::Platform::debian(
            rseq_link_check::__fuzz::elf::Machine::X86_64
        )
        .platform,
        platform,
        "the model's $PLATFORM"
    );
    let sc = Sc::new();
    sc.file("lib/x86_64-linux-gnu/.keep", "");
    sc.lib(
        "lib/x86_64-linux-gnu/liba.so",
        &def_src("liba.so", RSEQ, 32, true, ""),
        &[],
    );
    sc.lib(
        &format!("{platform}/libb.so"),
        &ref_src("libb.so", RSEQ, true),
        &[],
    );
    sc.lib("elsewhere/libc2.so", &ref_src("libc2.so", RSEQ, true), &[]);
    sc.exe(
        "main",
        &main_src("", &["liba.so", "libb.so", "libc2.so"]),
        &[
            "-Llib/x86_64-linux-gnu",
            &format!("-L{platform}"),
            "-Lelsewhere",
            "-la",
            "-lb",
            "-lc2",
            "-Wl,-rpath,$ORIGIN/$LIB:$ORIGIN/$PLATFORM",
        ],
    );
    let lp = sc.s("elsewhere");
    let real = sc.run("main", &[("LD_LIBRARY_PATH", &lp)]);
    assert_eq!(real.status, Some(0), "{}", real.stderr);
    let p = sc.model(
        "main",
        Options {
            library_path: vec![lp.clone()],
            ..Options::default()
        },
    );
    assert_agrees(&real, &p, RSEQ);
    let names: Vec<&str> = p
        .global
        .iter()
        .map(|&i| p.modules[i].name.as_str())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("/lib/x86_64-linux-gnu/liba.so")),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.ends_with(&format!("/{platform}/libb.so"))),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("{lp}/libc2.so").as_str()),
        "{names:?}"
    );
    // Without LD_LIBRARY_PATH libc2.so is missing, for the loader and for the model.
    assert!(sc.model("main", Options::default()).refuses_to_start());
    assert_ne!(sc.run("main", &[]).status, Some(0));
}

/// The subdirectories tried inside each search directory (glibc-hwcaps, then the legacy
/// platform and capability combinations) are those the real loader prints with
/// `LD_DEBUG=libs` for a RUNPATH directory, in its order.
#[test]
fn hwcaps_subdirectories_match_the_real_loader() {
    let sc = Sc::new();
    sc.lib("d/libx.so", &def_src("libx.so", RSEQ, 32, true, ""), &[]);
    sc.exe(
        "main",
        &main_src("", &["libx.so"]),
        &["-Ld", "-lx", "-Wl,-rpath,/nonexistent/rseq-dir:$ORIGIN/d"],
    );
    let out = Command::new(sc.s("main"))
        .env("LD_DEBUG", "libs")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let list = stderr
        .lines()
        .find_map(|l| l.split_once("search path=").map(|x| x.1))
        .and_then(|l| l.split_once("\t\t(RUNPATH").map(|x| x.0))
        .expect("the RUNPATH search path in LD_DEBUG=libs");
    let real: Vec<String> = list
        .split(':')
        .filter_map(|d| d.strip_prefix("/nonexistent/rseq-dir"))
        .map(|sub| {
            let sub = sub.trim_start_matches('/');
            if sub.is_empty() {
                String::new()
            } else {
                format!("{sub}/")
            }
        })
        .collect();
    let model = rseq_link_check::__fuzz::loader::Platform::debian(
        rseq_link_check::__fuzz::elf::Machine::X86_64,
    )
    .subdirs;
    assert_eq!(model, real);
}

/// A definition that is not thread-local.
#[test]
fn non_tls_definition() {
    for tls in [false, true] {
        let sc = Sc::new();
        sc.lib("liba.so", &def_src("liba.so", RSEQ, 32, tls, ""), &[]);
        sc.exe(
            "main",
            &main_src("", &["liba.so"]),
            &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
        );
        let real = sc.run("main", &[]);
        let p = sc.model("main", Options::default());
        assert_agrees(&real, &p, RSEQ);
        assert_eq!(has(&codes(&p), "non-tls-definition"), !tls);
    }
}

/// Registration of a module's own area: refused (EINVAL: another area is registered) while
/// glibc registers (the default), success with glibc.pthread.rseq=0; EINVAL for an area
/// aligned below 32 bytes.
#[test]
fn own_registration_under_glibc_and_alignment() {
    let register = "#include <stdio.h>\n#include <errno.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
        extern __thread char __rseq_abi[32];\n\
        void probe_liba_so(void) {\n\
          long r = syscall(334, __rseq_abi, 32, 0, 0x53053053);\n\
          printf(\"register %s\\n\", r == 0 ? \"ok\" : errno == EBUSY ? \"EBUSY\" : errno == EINVAL ? \"EINVAL\" : \"other\");\n\
          printf(\"addr_mod_32 %lu\\n\", (unsigned long)__rseq_abi % 32);\n\
        }\n";
    // Aligned: `aligned(32)` in C. Under-aligned: placed by assembly at offset 8 of a
    // 64-byte aligned TLS block.
    let aligned = "__thread char __rseq_abi[32] __attribute__((aligned(32)));\n";
    let under = "__asm__(\".section .tbss,\\\"awT\\\",@nobits\\n.balign 64\\nblk: .zero 8\\n.globl __rseq_abi\\n.type __rseq_abi,@object\\n.size __rseq_abi,32\\n__rseq_abi: .zero 32\\n.text\\n\");\n";
    for (name, def) in [("aligned", aligned), ("under", under)] {
        let sc = Sc::new();
        sc.lib("liba.so", &format!("{def}{register}"), &[]);
        sc.exe(
            "main",
            &main_src("", &["liba.so"]),
            &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
        );
        for tunables in [None, Some("glibc.pthread.rseq=0")] {
            let env: Vec<(&str, &str)> = tunables.iter().map(|t| ("GLIBC_TUNABLES", *t)).collect();
            let real = sc.run("main", &env);
            let p = sc.model(
                "main",
                Options {
                    glibc_tunables: tunables.map(str::to_string),
                    ..Options::default()
                },
            );
            let c = codes(&p);
            let result = real.facts["register"].as_str();
            match (name, tunables) {
                (_, None) => assert_eq!(result, "EINVAL"),
                ("aligned", Some(_)) => assert_eq!(result, "ok"),
                (_, Some(_)) => assert_eq!(result, "EINVAL"),
            }
            assert_eq!(
                has(&c, "glibc-owns-registration"),
                tunables.is_none(),
                "{name} {tunables:?}"
            );
            assert_eq!(has(&c, "under-aligned"), name == "under", "{name}: {c:?}");
            assert_eq!(real.facts["addr_mod_32"] != "0", name == "under");
        }
    }
}

/// `__rseq_abi` definitions judged against Linux 7.0's extensible ABI
/// (`AT_RSEQ_FEATURE_SIZE` 33, `AT_RSEQ_ALIGN` 64): a legacy 32-byte, 32-aligned definition
/// is a warning saying what is lost; its twin sized and aligned for that kernel (64 bytes,
/// 64-aligned) is clean; a 64-byte definition only 32-aligned is an error. On this machine's
/// kernel (28/32) all three register with their own length for real (glibc's registration
/// off), the kernel fills them, and none is flagged.
#[test]
fn definitions_against_the_kernel_feature_size() {
    let register = |len: usize| {
        format!(
            "#include <stdio.h>\n#include <errno.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
            extern __thread char __rseq_abi[];\n\
            void probe_liba_so(void) {{\n\
              long r = syscall(334, __rseq_abi, {len}, 0, 0x53053053);\n\
              printf(\"register %s\\n\", r == 0 ? \"ok\" : errno == EINVAL ? \"EINVAL\" : \"other\");\n\
              printf(\"cpu_live %d\\n\", ((volatile int *)__rseq_abi)[1] >= 0);\n\
              printf(\"addr_mod_64 %lu\\n\", (unsigned long)__rseq_abi % 64);\n\
            }}\n"
        )
    };
    let legacy = "__thread char __rseq_abi[32] __attribute__((aligned(32)));\n";
    let sized = "__thread char __rseq_abi[64] __attribute__((aligned(64)));\n";
    // 64 bytes at offset 32 of a 64-byte aligned TLS block: 32-aligned only.
    let misaligned = "__asm__(\".section .tbss,\\\"awT\\\",@nobits\\n.balign 64\\nblk: .zero 32\\n.globl __rseq_abi\\n.type __rseq_abi,@object\\n.size __rseq_abi,64\\n__rseq_abi: .zero 64\\n.text\\n\");\n";
    let linux_7_0 = KernelRseq {
        feature_size: 33,
        align: 64,
    };
    let tunables = "glibc.pthread.rseq=0";
    for (name, def, len) in [
        ("legacy", legacy, 32),
        ("sized", sized, 64),
        ("misaligned", misaligned, 64),
    ] {
        let sc = Sc::new();
        sc.lib("liba.so", &format!("{def}{}", register(len)), &[]);
        sc.exe(
            "main",
            &main_src("", &["liba.so"]),
            &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
        );
        let real = sc.run("main", &[("GLIBC_TUNABLES", tunables)]);
        assert_eq!(real.facts["register"], "ok", "{name}: {}", real.stdout);
        assert_eq!(real.facts["cpu_live"], "1", "{name}");
        if name != "legacy" {
            // (The legacy area is 32-aligned: either answer.)
            assert_eq!(real.facts["addr_mod_64"] == "32", name == "misaligned");
        }
        let p = sc.model(
            "main",
            Options {
                glibc_tunables: Some(tunables.to_string()),
                ..Options::default()
            },
        );
        let here = rseq_link_check::check_for_kernel(
            &p,
            KernelRseq {
                feature_size: 28,
                align: 32,
            },
        );
        assert!(
            here.diagnostics
                .iter()
                .all(|d| d.code.as_str() != "kernel-feature-size"),
            "{name}: {:?}",
            here.diagnostics
        );
        let newer = rseq_link_check::check_for_kernel(&p, linux_7_0);
        let found: Vec<_> = newer
            .diagnostics
            .iter()
            .filter(|d| d.code.as_str() == "kernel-feature-size")
            .collect();
        match name {
            "legacy" => {
                assert_eq!(found.len(), 1, "{found:?}");
                assert_eq!(found[0].severity, Severity::Warning);
                assert!(
                    found[0].message.contains("loses bytes 32..33"),
                    "{}",
                    found[0].message
                );
            }
            "sized" => assert!(found.is_empty(), "{found:?}"),
            _ => {
                assert_eq!(found.len(), 1, "{found:?}");
                assert_eq!(found[0].severity, Severity::Error);
                assert!(found[0].message.contains("EINVAL"), "{}", found[0].message);
            }
        }
        // The command line takes the kernel's values.
        let out = Command::new(env!("CARGO_BIN_EXE_rseq-link-check"))
            .args(["check", "--glibc-tunables", tunables])
            .args([
                "--kernel-feature-size",
                "33",
                "--kernel-align",
                "64",
                "--json",
            ])
            .arg(sc.p("main"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.contains("\"kernel-feature-size\""),
            name != "sized",
            "{name}: {stdout}"
        );
    }
}

/// A library that defines `__rseq_abi` but looks up glibc's `__rseq_offset`/`__rseq_size`
/// first (librseq's way since glibc 2.35): while glibc registers, it reads glibc's area and
/// its own stays unregistered — a warning, not an error. An executable that reads the
/// library's `__rseq_abi` directly sees an area nobody registered: an error naming it.
/// With glibc's registration off the library registers its own, and nothing is flagged.
#[test]
fn glibc_aware_definition_and_blind_reader() {
    let aware = "#include <stdio.h>\n#include <stddef.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
        __thread struct { unsigned cpu_id_start, cpu_id; char rest[24]; } __rseq_abi __attribute__((aligned(32))) = { 0, (unsigned)-1 };\n\
        extern const ptrdiff_t __rseq_offset __attribute__((weak));\n\
        extern const unsigned int __rseq_size __attribute__((weak));\n\
        void probe_liba_so(void) {\n\
          volatile unsigned *cpu;\n\
          if (&__rseq_size && __rseq_size > 0) {\n\
            cpu = (volatile unsigned *)((char *)__builtin_thread_pointer() + __rseq_offset) + 1;\n\
            printf(\"path glibc\\n\");\n\
          } else {\n\
            long r = syscall(334, &__rseq_abi, 32, 0, 0x53053053);\n\
            printf(\"path %s\\n\", r == 0 ? \"own\" : \"own-failed\");\n\
            cpu = &__rseq_abi.cpu_id;\n\
          }\n\
          printf(\"lib_cpu_live %d\\n\", (int)*cpu >= 0);\n\
        }\n";
    let blind =
        "extern __thread struct { unsigned cpu_id_start, cpu_id; char rest[24]; } __rseq_abi;\n\
        void probe_main(void) { printf(\"main_cpu_live %d\\n\", (int)__rseq_abi.cpu_id >= 0); }\n";
    for reader in [false, true] {
        let sc = Sc::new();
        sc.lib("liba.so", aware, &[]);
        let (own, probes): (&str, &[&str]) = if reader {
            (blind, &["liba.so", "main"])
        } else {
            ("", &["liba.so"])
        };
        sc.exe(
            "main",
            &main_src(own, probes),
            &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
        );
        for tunables in [None, Some("glibc.pthread.rseq=0")] {
            let env: Vec<(&str, &str)> = tunables.iter().map(|t| ("GLIBC_TUNABLES", *t)).collect();
            let real = sc.run("main", &env);
            assert_eq!(real.status, Some(0), "{}", real.stderr);
            let p = sc.model(
                "main",
                Options {
                    glibc_tunables: tunables.map(str::to_string),
                    ..Options::default()
                },
            );
            let found: Vec<_> = rseq_link_check::check(&p)
                .diagnostics
                .into_iter()
                .filter(|d| d.code.as_str() == "glibc-owns-registration")
                .collect();
            // What the real process did: the library always reads a live area.
            assert_eq!(real.facts["lib_cpu_live"], "1", "{reader} {tunables:?}");
            let glibc_registers = tunables.is_none();
            assert_eq!(
                real.facts["path"],
                if glibc_registers { "glibc" } else { "own" }
            );
            if !glibc_registers {
                assert!(found.is_empty(), "{found:?}");
                if reader {
                    assert_eq!(real.facts["main_cpu_live"], "1");
                }
                continue;
            }
            if reader {
                // The executable reads an area nobody registered.
                assert_eq!(real.facts["main_cpu_live"], "0");
                assert_eq!(found.len(), 1, "{found:?}");
                assert!(found[0].is_error(), "{found:?}");
                assert!(found[0].message.contains("main reads"), "{found:?}");
            } else {
                assert_eq!(found.len(), 1, "{found:?}");
                assert!(!found[0].is_error(), "{found:?}");
                assert!(
                    found[0].message.contains("looks up __rseq_offset"),
                    "{found:?}"
                );
            }
        }
    }
}

/// An initial-exec TLS module loaded by dlopen: with a large block the real dlopen fails
/// ("cannot allocate memory in static TLS block"); the global-dynamic twin loads.
#[test]
fn static_tls_module_in_dlopen() {
    for model in ["initial-exec", "global-dynamic"] {
        let sc = Sc::new();
        let flag = format!("-ftls-model={model}");
        sc.lib(
            "libie.so",
            "__thread char big[1 << 20];\nchar *probe_libie_so(void) { return big; }\n",
            &[flag.as_str()],
        );
        let main = format!(
            "#include <dlfcn.h>\n#include <stdio.h>\nint main(void) {{ void *h = dlopen(\"{}\", RTLD_NOW); printf(\"dlopen %s\\n\", h ? \"ok\" : \"failed\"); if (!h) puts(dlerror()); return 0; }}\n",
            sc.s("libie.so")
        );
        sc.exe("main", &main, &["-ldl"]);
        let real = sc.run("main", &[]);
        let p = sc.model(
            "main",
            Options {
                dlopen: vec![(sc.s("libie.so"), DlopenMode::Local)],
                ..Options::default()
            },
        );
        let fires = has(&codes(&p), "static-tls-in-dlopen");
        assert_eq!(fires, model == "initial-exec");
        assert_eq!(
            real.facts["dlopen"] == "failed",
            model == "initial-exec",
            "{}",
            real.stdout
        );
        if model == "initial-exec" {
            assert!(real.stdout.contains("static TLS"), "{}", real.stdout);
        }
    }
}

/// An unversioned `__rseq_size` defined before ld.so in scope captures the C library's own
/// versioned reference.
#[test]
fn unversioned_rseq_size_captures_glibc() {
    let sc = Sc::new();
    sc.lib("libcap.so", "unsigned int __rseq_size = 99;\n", &[]);
    sc.exe("main", "int main(void) { return 0; }\n", &[]);
    for preload in [false, true] {
        let pre = sc.s("libcap.so");
        let env: Vec<(&str, &str)> = if preload {
            vec![("LD_PRELOAD", pre.as_str())]
        } else {
            vec![]
        };
        let real = sc.run("main", &env);
        let p = sc.model(
            "main",
            Options {
                preload: if preload { vec![pre.clone()] } else { vec![] },
                ..Options::default()
            },
        );
        assert_eq!(
            model_bindings_of(&p, "__rseq_size"),
            real.bindings_of("__rseq_size")
        );
        let captured = real
            .bindings_of("__rseq_size")
            .iter()
            .any(|b| b.2.ends_with("libcap.so"));
        assert_eq!(captured, preload);
        assert_eq!(has(&codes(&p), "captures-glibc-rseq-symbol"), captured);
    }
}

/// DT_NEEDED cycles are legal: both libraries load once.
#[test]
fn needed_cycle_loads_once() {
    let sc = Sc::new();
    sc.lib("libb.so", "int b_stub;\n", &[]);
    sc.lib(
        "liba.so",
        &def_src("liba.so", RSEQ, 32, true, ""),
        &["-L.", "-lb"],
    );
    sc.lib(
        "libb.so",
        &ref_src("libb.so", RSEQ, true),
        &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
    );
    sc.exe(
        "main",
        &main_src("", &["liba.so", "libb.so"]),
        &["-L.", "-la", "-lb", "-Wl,-rpath,$ORIGIN"],
    );
    let real = sc.run("main", &[]);
    assert_eq!(real.status, Some(0), "{}", real.stderr);
    let p = sc.model("main", Options::default());
    assert_agrees(&real, &p, RSEQ);
    let names: Vec<&str> = p
        .global
        .iter()
        .map(|&i| p.modules[i].name.as_str())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with("/liba.so")).count(),
        1,
        "{names:?}"
    );
}

/// A sysroot: the same files under another root give the same answer, with the paths as
/// the loader inside that root would report them.
#[test]
fn sysroot_gives_the_same_answer() {
    let sc = Sc::new();
    sc.file("root/opt/app/.keep", "");
    sc.lib(
        "root/opt/app/liba.so",
        &def_src("liba.so", RSEQ, 32, true, ""),
        &[],
    );
    sc.exe(
        "root/opt/app/main",
        &main_src("", &["liba.so"]),
        &["-Lroot/opt/app", "-la", "-Wl,-rpath,/opt/app"],
    );
    for f in [
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/etc/ld.so.cache",
    ] {
        let dest = sc.p(&format!("root{f}"));
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(std::fs::canonicalize(f).unwrap(), dest).unwrap();
    }
    let p = rseq_link_check::Process::load(
        std::path::Path::new("/opt/app/main"),
        &Options {
            sysroot: Some(sc.p("root")),
            ..Options::default()
        },
    )
    .unwrap();
    let order: Vec<&str> = p
        .load_order()
        .iter()
        .map(|&i| p.modules[i].name.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "/opt/app/main",
            "/opt/app/liba.so",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2"
        ]
    );
    let r = rseq_link_check::resolve(&p, RSEQ);
    assert_eq!(r.winner.unwrap().module, "/opt/app/liba.so");
}

/// Secure mode (a set-user-ID program started by another user): `LD_LIBRARY_PATH` is
/// ignored and `$ORIGIN` outside the system directories is dropped. The real loader runs
/// in secure mode when root starts a program set-user-ID to `nobody`.
#[test]
fn secure_mode_ignores_library_path_and_origin() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::fs::PermissionsExt;
    // /proc/self belongs to the effective user.
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("skipped: needs root to create a set-user-ID program of another user");
        return;
    }
    let sc = Sc::new();
    std::fs::set_permissions(sc.p(""), std::fs::Permissions::from_mode(0o755)).unwrap();
    sc.file("lp/.keep", "");
    sc.file("origin/.keep", "");
    sc.lib("lp/liblp.so", &def_src("liblp.so", RSEQ, 32, true, ""), &[]);
    sc.lib("origin/libor.so", &ref_src("libor.so", RSEQ, true), &[]);
    sc.exe(
        "origin/main",
        &main_src("", &["libor.so", "liblp.so"]),
        &["-Llp", "-Lorigin", "-llp", "-lor", "-Wl,-rpath,$ORIGIN"],
    );
    let lp = sc.s("lp");
    // Not secure: both found.
    let real = sc.run("origin/main", &[("LD_LIBRARY_PATH", &lp)]);
    assert_eq!(real.status, Some(0), "{}", real.stderr);
    let p = sc.model(
        "origin/main",
        Options {
            library_path: vec![lp.clone()],
            ..Options::default()
        },
    );
    assert!(!p.refuses_to_start());
    assert_agrees(&real, &p, RSEQ);
    // Secure: set-user-ID nobody.
    let main = sc.p("origin/main");
    std::os::unix::fs::chown(&main, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let real = sc.run("origin/main", &[("LD_LIBRARY_PATH", &lp)]);
    assert_ne!(
        real.status,
        Some(0),
        "the secure loader must refuse: {}",
        real.stderr
    );
    let p = sc.model(
        "origin/main",
        Options {
            library_path: vec![lp.clone()],
            secure: true,
            ..Options::default()
        },
    );
    assert!(p.refuses_to_start());
    let mut missing: Vec<&str> = p.missing.iter().map(|m| m.name.as_str()).collect();
    missing.sort();
    assert_eq!(missing, ["liblp.so", "libor.so"]);
    // The real loader names the first one it could not find.
    assert!(
        real.stderr
            .contains("liblp.so: cannot open shared object file"),
        "{}",
        real.stderr
    );
}

/// `STB_GNU_UNIQUE`: the first definition bound process-wide wins, even for a module opened
/// with RTLD_DEEPBIND that defines its own copy.
#[test]
fn gnu_unique_wins_over_deepbind() {
    let sc = Sc::new();
    let src = |m: &str| {
        let id = ident(m);
        format!(
            "#include <stdio.h>\n\
             __asm__(\".data\\n.globl u\\n.type u, @gnu_unique_object\\n.size u, 4\\n.balign 4\\nu: .long 5\\n.globl own_{id}\\n.hidden own_{id}\\n.set own_{id}, u\\n.text\\n\");\n\
             extern int u;\n\
             extern int own_{id} __attribute__((visibility(\"hidden\")));\n\
             __attribute__((constructor)) static void own_probe(void) {{ printf(\"own {m} %p\\n\", (void *)&own_{id}); }}\n\
             void probe_{id}(void) {{ printf(\"seen {m} %p\\n\", (void *)&u); }}\n"
        )
    };
    sc.lib("liba.so", &src("liba.so"), &[]);
    sc.lib("libb.so", &src("libb.so"), &[]);
    let main = format!(
        "#include <dlfcn.h>\n#include <stdio.h>\nvoid probe_liba_so(void);\n\
         int main(void) {{ probe_liba_so(); void *h = dlopen(\"{}\", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);\n\
         if (!h) {{ puts(dlerror()); return 1; }} ((void (*)(void))dlsym(h, \"probe_libb_so\"))(); return 0; }}\n",
        sc.s("libb.so")
    );
    sc.exe("main", &main, &["-L.", "-la", "-Wl,-rpath,$ORIGIN", "-ldl"]);
    let real = sc.run("main", &[]);
    assert_eq!(real.status, Some(0), "{}", real.stdout);
    let p = sc.model(
        "main",
        Options {
            dlopen: vec![(sc.s("libb.so"), DlopenMode::Deepbind)],
            ..Options::default()
        },
    );
    assert_agrees(&real, &p, "u");
    assert_eq!(real.binds_to("libb.so").as_deref(), Some("liba.so"));
}

/// A Rust `cdylib` that links C code defining `__rseq_abi`: rustc's version script makes
/// everything but the Rust exports local, so the library keeps a private copy and the
/// process splits from the executable's exported definition.
#[test]
fn rust_cdylib_keeps_a_private_copy() {
    let sc = Sc::new();
    sc.file("cdef.c", &def_src("librust.so", RSEQ, 32, true, ""));
    sc.gcc(&["-c", "-fPIC", "-o", "cdef.o", "cdef.c"]);
    let ar = Command::new("ar")
        .current_dir(sc.p(""))
        .args(["rcs", "libcdef.a", "cdef.o"])
        .status()
        .unwrap();
    assert!(ar.success());
    sc.file(
        "lib.rs",
        "extern \"C\" { fn probe_librust_so(); }\n\
         #[no_mangle]\npub extern \"C\" fn rust_probe() { unsafe { probe_librust_so() } }\n",
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .current_dir(sc.p(""))
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "cdylib",
            "-o",
            "librust.so",
            "lib.rs",
            "-L",
            ".",
            "-l",
            "static=cdef",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sc.exe(
        "main",
        &format!(
            "{}void rust_probe(void);\nint main(void) {{ probe_main(); rust_probe(); return 0; }}\n",
            def_src("main", RSEQ, 32, true, "")
        ),
        &["-L.", "-lrust", "-Wl,-rpath,$ORIGIN", "-rdynamic"],
    );
    let real = sc.run("main", &[]);
    assert_eq!(real.status, Some(0), "{}", real.stderr);
    let p = sc.model("main", Options::default());
    assert_agrees(&real, &p, RSEQ);
    assert_ne!(
        real.seen["main"], real.seen["librust.so"],
        "the real process split"
    );
    let r = rseq_link_check::resolve(&p, RSEQ);
    let rust_def = r
        .definitions
        .iter()
        .find(|d| d.module.ends_with("/librust.so"))
        .unwrap();
    assert!(!rust_def.exported);
    assert!(has(&codes(&p), "split-instance"));
}

/// A statically linked executable (no PT_INTERP, no PT_DYNAMIC; and a static PIE) runs
/// without ld.so: nothing else is loaded, LD_PRELOAD is never read, and its own `__rseq_abi` is the only one. The
/// twin is the same program linked dynamically, where the preload is loaded.
#[test]
fn static_executable_loads_nothing_and_ignores_preload() {
    let sc = Sc::new();
    sc.lib("libp.so", &def_src("libp.so", RSEQ, 32, true, ""), &[]);
    let main = main_src(&def_src("main", RSEQ, 32, true, ""), &["main"]);
    sc.exe("main", &main, &["-static"]);
    sc.exe("pie/main", &main, &["-static-pie", "-fPIE"]);
    sc.exe("dyn", &main, &[]);
    let pre = sc.s("libp.so");
    let opts = || Options {
        preload: Options::split_preload(&pre),
        ..Options::default()
    };
    for exe in ["main", "pie/main"] {
        let real = sc.run(exe, &[("LD_PRELOAD", &pre)]);
        assert!(
            !real.stdout.contains("own libp.so"),
            "the preload ran in a static program:\n{}",
            real.stdout
        );
        let p = sc.model(exe, opts());
        assert_agrees(&real, &p, RSEQ);
        let order = rseq_link_check::resolve(&p, RSEQ).load_order;
        assert_eq!(order.len(), 1, "{order:?}");
        let refs = model_refs(&p, RSEQ);
        assert_eq!(refs.len(), 1, "{refs:?}");
        assert_eq!(refs["main"].as_deref(), Some("main"));
    }
    // Twin: the dynamically linked build loads the preload (and the C library).
    let real = sc.run("dyn", &[("LD_PRELOAD", &pre)]);
    assert!(real.stdout.contains("own libp.so"), "{}", real.stdout);
    let p = sc.model("dyn", opts());
    let order = rseq_link_check::resolve(&p, RSEQ).load_order;
    assert!(order.iter().any(|m| m.ends_with("/libp.so")), "{order:?}");
    assert!(order.iter().any(|m| m.contains("libc.so.6")), "{order:?}");
}

/// A missing LD_PRELOAD entry: ld.so prints an error line and starts the program without it;
/// the model warns naming the file. The twin preloads a library that exists.
#[test]
fn missing_preload_is_a_warning() {
    let sc = Sc::new();
    sc.lib("libp.so", &def_src("libp.so", RSEQ, 32, true, ""), &[]);
    sc.lib("liba.so", &def_src("liba.so", RSEQ, 32, true, ""), &[]);
    sc.exe(
        "main",
        &main_src("", &["liba.so"]),
        &["-L.", "-la", "-Wl,-rpath,$ORIGIN"],
    );
    for (name, missing) in [("libnothere.so", true), ("libp.so", false)] {
        let pre = sc.s(name);
        let real = sc.run("main", &[("LD_PRELOAD", &pre)]);
        assert_eq!(real.status, Some(0), "{}", real.stderr);
        assert_eq!(
            real.stderr.contains("cannot be preloaded"),
            missing,
            "{}",
            real.stderr
        );
        let p = sc.model(
            "main",
            Options {
                preload: Options::split_preload(&pre),
                ..Options::default()
            },
        );
        assert_agrees(&real, &p, RSEQ);
        assert!(!p.refuses_to_start());
        let report = rseq_link_check::check(&p);
        let warning = report
            .diagnostics
            .iter()
            .find(|d| d.code.as_str() == "preload-not-found");
        assert_eq!(warning.is_some(), missing, "{:?}", report.diagnostics);
        if let Some(w) = warning {
            assert!(w.message.contains(&pre), "{}", w.message);
            assert_eq!(w.severity, rseq_link_check::Severity::Warning);
        }
    }
}

/// A weak undefined reference nothing defines: the loader resolves it to 0 and prints no
/// binding. The model reports the reference with no target; for TLS (where the module
/// computes a non-NULL, meaningless address from module ID 0) it is an error. The twin is a
/// non-TLS weak reference, whose address really is NULL: no diagnostic.
#[test]
fn weak_undefined_reference_nothing_defines() {
    for tls in [true, false] {
        let sc = Sc::new();
        let t = if tls { "__thread " } else { "" };
        sc.lib(
            "libw.so",
            &format!(
                "#include <stdio.h>\n\
                 extern {t}{ty} {RSEQ} __attribute__((weak));\n\
                 void probe_libw_so(void) {{ printf(\"seen libw.so %p\\n\", (void *)&{RSEQ}); }}\n",
                ty = area(32)
            ),
            &["-ftls-model=initial-exec"],
        );
        sc.exe(
            "main",
            &main_src("", &["libw.so"]),
            &["-L.", "-lw", "-Wl,-rpath,$ORIGIN"],
        );
        let real = sc.run("main", &[]);
        assert_eq!(real.status, Some(0), "{}", real.stderr);
        let p = sc.model("main", Options::default());
        assert_eq!(model_bindings_of(&p, RSEQ), real.bindings_of(RSEQ));
        assert!(real.bindings_of(RSEQ).is_empty());
        let seen = &real.seen["libw.so"];
        assert_eq!(seen == "(nil)", !tls, "address seen: {seen}");
        let refs = model_refs(&p, RSEQ);
        assert_eq!(refs.get("libw.so"), Some(&None), "{refs:?}");
        assert_eq!(has(&codes(&p), "weak-undefined-tls"), tls);
    }
}

/// A module that only defines a non-TLS `__rseq_abi` (no code or relocation uses it)
/// references nothing; the twin uses its definition through code the static linker bound
/// locally (-Bsymbolic: no symbol relocation is left) and is reported as using its own.
#[test]
fn non_tls_definition_nobody_uses_is_no_reference() {
    for used in [false, true] {
        let sc = Sc::new();
        let src = if used {
            def_src("liba.so", RSEQ, 32, false, "")
        } else {
            format!(
                "{ty} {RSEQ} __attribute__((aligned(32))) = {{ {{ 1 }} }};\n",
                ty = area(32)
            )
        };
        let extra: &[&str] = if used { &["-Wl,-Bsymbolic"] } else { &[] };
        sc.lib("liba.so", &src, extra);
        let probes: &[&str] = if used { &["liba.so"] } else { &[] };
        sc.exe(
            "main",
            &main_src("int probe_main_unused;\n", probes),
            &["-L.", "-Wl,--no-as-needed", "-la", "-Wl,-rpath,$ORIGIN"],
        );
        let real = sc.run("main", &[]);
        assert_eq!(real.status, Some(0), "{}", real.stderr);
        let p = sc.model("main", Options::default());
        assert_eq!(model_bindings_of(&p, RSEQ), real.bindings_of(RSEQ));
        let refs = model_refs(&p, RSEQ);
        if used {
            assert_eq!(real.binds_to("liba.so").as_deref(), Some("liba.so"));
            assert_eq!(refs.get("liba.so"), Some(&Some("liba.so".to_string())));
        } else {
            assert!(refs.is_empty(), "{refs:?}");
        }
        // The definition itself is still wrong.
        assert!(has(&codes(&p), "non-tls-definition"));
    }
}

/// Filter objects (`DT_FILTER`, `DT_AUXILIARY`): the filtee goes into the search list just
/// before the filter, so references to the filter's symbols (the filter's own included)
/// bind to the filtee's definitions. A missing auxiliary filtee leaves the filter's own
/// definitions in use; a missing `DT_FILTER` filtee stops the program.
#[test]
fn filter_and_auxiliary_objects_bind_to_the_filtee() {
    for (lib, flag) in [("libfilter.so", "--filter"), ("libaux.so", "--auxiliary")] {
        for filtee_present in [true, false] {
            let sc = Sc::new();
            let filtee = if filtee_present {
                "libfiltee.so"
            } else {
                "libnothere.so"
            };
            sc.lib(
                "libfiltee.so",
                &def_src("libfiltee.so", RSEQ, 32, true, ""),
                &[],
            );
            let filter_flag = format!("-Wl,{flag},{filtee}");
            sc.lib(
                lib,
                &def_src(lib, RSEQ, 32, true, ""),
                &[filter_flag.as_str(), "-Wl,-rpath,$ORIGIN"],
            );
            let link = format!("-l{}", &lib[3..lib.len() - 3]);
            sc.exe(
                "main",
                &main_src(&ref_src("main", RSEQ, true), &["main", lib]),
                &["-L.", link.as_str(), "-Wl,-rpath,$ORIGIN"],
            );
            let real = sc.run("main", &[]);
            let p = sc.model("main", Options::default());
            let order = rseq_link_check::resolve(&p, RSEQ).load_order;
            if !filtee_present && flag == "--filter" {
                assert_ne!(real.status, Some(0), "{}", real.stderr);
                assert!(p.refuses_to_start(), "{order:?}");
                assert!(has(&codes(&p), "missing-dependency"));
                continue;
            }
            assert_eq!(real.status, Some(0), "{}", real.stderr);
            assert_agrees(&real, &p, RSEQ);
            let expect = if filtee_present { "libfiltee.so" } else { lib };
            assert_eq!(real.binds_to("main").as_deref(), Some(expect));
            assert_eq!(real.binds_to(lib).as_deref(), Some(expect));
            if filtee_present {
                // The filtee is loaded right before the filter.
                let pos = |n: &str| order.iter().position(|m| m.ends_with(n)).unwrap();
                assert_eq!(pos("libfiltee.so") + 1, pos(lib), "{order:?}");
            }
            assert!(!has(&codes(&p), "missing-dependency"));
        }
    }
}

/// An executable's undefined function with a non-zero value (a canonical PLT entry: a
/// non-PIE executable takes the function's address): its JUMP_SLOT binds to the library,
/// the library's own references bind to the executable's PLT entry, and nothing else is
/// printed (no binding of the executable to itself), with and without the loader's own
/// allocator lookups (`free`).
#[test]
fn canonical_plt_entry_binds_once() {
    let sc = Sc::new();
    sc.lib(
        "liba.so",
        "#include <stdio.h>\n\
         int libfn(void) { return 1; }\n\
         void probe_liba_so(void) { printf(\"fact liba %d\\n\", (int)(&libfn != 0)); }\n",
        &[],
    );
    sc.exe(
        "main",
        "#include <stdio.h>\n#include <stdlib.h>\n\
         int libfn(void);\n void probe_liba_so(void);\n\
         int main(void) {\n\
           int (*volatile f)(void) = libfn;\n\
           void (*volatile g)(void *) = free;\n\
           printf(\"fact main %p %p\\n\", (void *)f, (void *)g);\n\
           probe_liba_so();\n\
           return f() - 1;\n\
         }\n",
        &["-no-pie", "-fno-pic", "-L.", "-la", "-Wl,-rpath,$ORIGIN"],
    );
    let real = sc.run("main", &[]);
    assert_eq!(real.status, Some(0), "{}", real.stderr);
    let p = sc.model("main", Options::default());
    for sym in ["libfn", "free", "malloc"] {
        assert_eq!(
            model_bindings_of(&p, sym),
            real.bindings_of(sym),
            "{sym}\n{}",
            real.stderr
                .lines()
                .filter(|l| l.contains(sym))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The executable's JUMP_SLOT binds to the library; nothing binds it to itself.
    let libfn = real.bindings_of("libfn");
    assert!(
        libfn
            .iter()
            .any(|(from, _, to)| from.ends_with("main") && to.ends_with("liba.so")),
        "{libfn:?}"
    );
    assert!(libfn.iter().all(|(from, _, to)| from != to), "{libfn:?}");
}
