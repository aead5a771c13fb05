//! Scenario harness: builds small programs and libraries with gcc in a temporary directory,
//! runs them for real under `LD_DEBUG=bindings` with probes that print the address of the
//! symbol each module sees (and, in defining modules, the address of their own definition
//! through a hidden alias), and runs the analyser on the same files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use rseq_link_check::{Options, Process};

/// A scenario directory.
pub struct Sc {
    dir: tempfile::TempDir,
}

/// What the real program showed.
#[derive(Debug, Default)]
pub struct Real {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// (from, symbol, version, to) as printed by `LD_DEBUG=bindings`.
    pub bindings: BTreeSet<rseq_testkit::ld_debug::Binding>,
    /// Probe module name -> address it sees.
    pub seen: BTreeMap<String, String>,
    /// Address of a module's own definition -> module name.
    pub own: BTreeMap<String, String>,
    /// Other `key value` lines printed by probes.
    pub facts: BTreeMap<String, String>,
}

impl Real {
    /// The module whose own definition `module` uses, by address.
    pub fn binds_to(&self, module: &str) -> Option<String> {
        let addr = self.seen.get(module)?;
        Some(
            self.own
                .get(addr)
                .cloned()
                .unwrap_or_else(|| format!("<unknown {addr}>")),
        )
    }

    /// The `LD_DEBUG` bindings of `symbol`, as (from, version, to).
    pub fn bindings_of(&self, symbol: &str) -> BTreeSet<(String, String, String)> {
        self.bindings
            .iter()
            .filter(|b| b.1 == symbol)
            .map(|b| (b.0.clone(), b.2.clone(), b.3.clone()))
            .collect()
    }
}

/// The C declaration of a `size`-byte area type.
pub fn area(size: usize) -> String {
    format!("struct {{ char b[{size}]; }}")
}

/// Source of a module defining `sym` (TLS unless `tls` is false) with `size` bytes, the
/// given visibility attribute, using it, and exporting `probe_<ident>()`.
pub fn def_src(module: &str, sym: &str, size: usize, tls: bool, attrs: &str) -> String {
    let t = if tls { "__thread " } else { "" };
    let id = ident(module);
    format!(
        "#include <stdio.h>\n\
         {t}{ty} {sym} __attribute__((aligned(32){attrs}));\n\
         extern {t}__typeof({sym}) own_{id} __attribute__((alias(\"{sym}\"), visibility(\"hidden\")));\n\
         __attribute__((constructor)) static void own_probe_{id}(void) {{\n\
           printf(\"own {module} %p\\n\", (void *)&own_{id});\n\
         }}\n\
         __attribute__((visibility(\"default\"))) void probe_{id}(void) {{\n\
           printf(\"seen {module} %p\\n\", (void *)&{sym});\n\
         }}\n",
        ty = area(size)
    )
}

/// Source of a module that only uses `sym`.
pub fn ref_src(module: &str, sym: &str, tls: bool) -> String {
    let t = if tls { "__thread " } else { "" };
    let id = ident(module);
    format!(
        "#include <stdio.h>\n\
         extern {t}{ty} {sym};\n\
         void probe_{id}(void) {{ printf(\"seen {module} %p\\n\", (void *)&{sym}); }}\n",
        ty = area(32)
    )
}

/// Source of a `main` that calls the probes of `modules` (its own probe first when `own` is
/// given as extra code defining `probe_main`).
pub fn main_src(own: &str, probes: &[&str]) -> String {
    let mut s = String::from("#include <stdio.h>\n");
    s.push_str(own);
    for p in probes {
        s.push_str(&format!("void probe_{}(void);\n", ident(p)));
    }
    s.push_str("int main(void) {\n");
    for p in probes {
        s.push_str(&format!("  probe_{}();\n", ident(p)));
    }
    s.push_str("  return 0;\n}\n");
    s
}

/// A C identifier for a module name.
pub fn ident(module: &str) -> String {
    module
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl Sc {
    pub fn new() -> Sc {
        Sc {
            dir: tempfile::Builder::new()
                .prefix("loader-sc")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn s(&self, rel: &str) -> String {
        self.p(rel).to_string_lossy().into_owned()
    }

    pub fn file(&self, rel: &str, text: &str) {
        let path = self.p(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    /// Runs gcc in the scenario directory.
    pub fn gcc(&self, args: &[&str]) {
        let out = Command::new("gcc")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .expect("gcc runs");
        assert!(
            out.status.success(),
            "gcc {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Builds shared object `out` (SONAME = its file name) from `src`.
    pub fn lib(&self, out: &str, src: &str, extra: &[&str]) {
        let c = format!("{out}.c");
        self.file(&c, src);
        let soname = format!(
            "-Wl,-soname,{}",
            Path::new(out).file_name().unwrap().to_string_lossy()
        );
        let mut args = vec!["-shared", "-fPIC", "-o", out, c.as_str(), soname.as_str()];
        args.extend_from_slice(extra);
        self.gcc(&args);
    }

    /// Builds executable `out` from `src`.
    pub fn exe(&self, out: &str, src: &str, extra: &[&str]) {
        let c = format!("{out}.c");
        self.file(&c, src);
        let mut args = vec!["-o", out, c.as_str()];
        args.extend_from_slice(extra);
        self.gcc(&args);
    }

    /// Runs `exe` (by absolute path) with immediate binding and `LD_DEBUG=bindings`.
    pub fn run(&self, exe: &str, env: &[(&str, &str)]) -> Real {
        let mut cmd = Command::new(self.p(exe));
        cmd.current_dir(self.dir.path())
            .env("LD_BIND_NOW", "1")
            .env("LD_DEBUG", "bindings")
            .env_remove("LD_PRELOAD")
            .env_remove("LD_LIBRARY_PATH")
            .env_remove("GLIBC_TUNABLES");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("scenario program runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut real = Real {
            status: out.status.code(),
            ..Real::default()
        };
        real.bindings = rseq_testkit::ld_debug::bindings(&stderr);
        for line in stdout.lines() {
            let mut it = line.split_whitespace();
            match (it.next(), it.next(), it.next()) {
                (Some("seen"), Some(m), Some(a)) => {
                    real.seen.insert(m.into(), a.into());
                }
                (Some("own"), Some(m), Some(a)) => {
                    real.own.insert(a.into(), m.into());
                }
                (Some(k), Some(v), None) => {
                    real.facts.insert(k.into(), v.into());
                }
                _ => {}
            }
        }
        real.stdout = stdout;
        real.stderr = stderr;
        real
    }

    /// The analyser's model of starting `exe` with `opts` (vDSO left out).
    pub fn model(&self, exe: &str, opts: Options) -> Process {
        Process::load(
            &self.p(exe),
            &Options {
                vdso: false,
                ..opts
            },
        )
        .expect("analysable")
    }
}

/// The analyser's printed bindings of `symbol`, as (from, version, to).
pub fn model_bindings_of(p: &Process, symbol: &str) -> BTreeSet<(String, String, String)> {
    rseq_link_check::bindings(p)
        .bindings
        .into_iter()
        .filter(|b| b.symbol == symbol)
        .map(|b| (b.from, b.version.unwrap_or_default(), b.to))
        .collect()
}

fn base(path: &str) -> String {
    Path::new(path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The analyser's reference map for `symbol`: module file name -> defining module file name.
pub fn model_refs(p: &Process, symbol: &str) -> BTreeMap<String, Option<String>> {
    rseq_link_check::resolve(p, symbol)
        .references
        .into_iter()
        .map(|r| (base(&r.module), r.binds_to.as_deref().map(base)))
        .collect()
}

/// Asserts the analyser agrees with the real run on `symbol`: the same `LD_DEBUG` bindings,
/// and, for every probed module, the same definition by address.
pub fn assert_agrees(real: &Real, p: &Process, symbol: &str) {
    assert_eq!(
        model_bindings_of(p, symbol),
        real.bindings_of(symbol),
        "LD_DEBUG=bindings of {symbol} differ\nreal stderr:\n{}",
        real.stderr
            .lines()
            .filter(|l| l.contains(symbol))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let refs = model_refs(p, symbol);
    assert!(
        !real.seen.is_empty(),
        "no probe output: {}\n{}",
        real.stdout,
        real.stderr
    );
    for module in real.seen.keys() {
        let real_to = real.binds_to(module);
        let model_to = refs.get(module).cloned().flatten();
        assert_eq!(
            model_to, real_to,
            "{module}: the analyser says it uses {model_to:?}'s {symbol}, the real program used {real_to:?}\nrefs: {refs:?}\nstdout:\n{}",
            real.stdout
        );
    }
}

/// The diagnostic codes of `check` (plus `resolve` of `symbol`).
pub fn codes(p: &Process) -> BTreeSet<String> {
    rseq_link_check::check(p)
        .diagnostics
        .iter()
        .map(|d| d.code.as_str().to_string())
        .collect()
}
