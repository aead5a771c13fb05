//! The link command line as rustc hands it to `cc`: response files, the compiler driver's own
//! options, `-Wl,`/`-Xlinker` pass-through, and the positional, order-sensitive linker inputs.
//!
//! The result is a [`LinkLine`]: global settings (output kind, search directories, version
//! script, ...) and the ordered list of [`LinkItem`]s (files, `-l` libraries and the state
//! switches such as `-Bstatic` or `--whole-archive` that apply to what follows them).

use std::path::{Path, PathBuf};

use super::LinkError;

/// Which static linker performs the link (and so which resolution rules apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkerFlavor {
    /// GNU ld (BFD): single pass over each archive at its position on the line.
    GnuLd,
    /// LLVM lld: archive members stay available for the whole link.
    Lld,
}

impl LinkerFlavor {
    /// The name used in messages (`GNU ld`, `lld`).
    pub fn display_name(self) -> &'static str {
        match self {
            LinkerFlavor::GnuLd => "GNU ld",
            LinkerFlavor::Lld => "lld",
        }
    }

    /// The other flavour.
    pub fn other(self) -> LinkerFlavor {
        match self {
            LinkerFlavor::GnuLd => LinkerFlavor::Lld,
            LinkerFlavor::Lld => LinkerFlavor::GnuLd,
        }
    }
}

/// What kind of file the link produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputKind {
    /// A position-dependent dynamically linked executable (`-no-pie`).
    Executable,
    /// A position-independent executable (`-pie`, the default of Debian's gcc).
    Pie,
    /// A shared library (`-shared`, a Rust `cdylib` or `dylib`).
    Shared,
    /// A statically linked executable (`-static`): no dynamic symbol table at all.
    Static,
    /// A statically linked position-independent executable (`-static-pie`).
    StaticPie,
    /// A relocatable object (`-r`): nothing is resolved for good.
    Relocatable,
}

impl OutputKind {
    /// True for the kinds that have a `.dynsym` and load shared libraries.
    pub fn is_dynamic(self) -> bool {
        matches!(
            self,
            OutputKind::Executable | OutputKind::Pie | OutputKind::Shared
        )
    }

    /// True for executables of any kind.
    pub fn is_executable(self) -> bool {
        matches!(
            self,
            OutputKind::Executable | OutputKind::Pie | OutputKind::Static | OutputKind::StaticPie
        )
    }
}

/// One order-sensitive element of the link line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkItem {
    /// A file named on the line (object, archive, rlib, shared library or linker script).
    File(PathBuf),
    /// `-lNAME` (searched as `libNAME.so`/`libNAME.a`) or `-l:FILE` (searched as `FILE`).
    Library(String),
    /// `-Bstatic` (true) / `-Bdynamic` (false): whether `-l` may pick shared libraries.
    Static(bool),
    /// `--whole-archive` (true) / `--no-whole-archive` (false).
    WholeArchive(bool),
    /// `--as-needed` (true) / `--no-as-needed` (false).
    AsNeeded(bool),
    /// `--start-group`.
    StartGroup,
    /// `--end-group`.
    EndGroup,
    /// `--push-state`.
    PushState,
    /// `--pop-state`.
    PopState,
}

/// A parsed link command line.
#[derive(Debug, Clone)]
pub struct LinkLine {
    /// The order-sensitive inputs and switches.
    pub items: Vec<LinkItem>,
    /// `-L` directories, in order (they apply to every `-l`, wherever it stands).
    pub search_dirs: Vec<PathBuf>,
    /// `-o FILE`.
    pub output: Option<PathBuf>,
    /// What the link produces.
    pub output_kind: OutputKind,
    /// The linker the driver would run (`-fuse-ld=`).
    pub flavor: LinkerFlavor,
    /// `-fuse-ld=` as given, if any.
    pub fuse_ld: Option<String>,
    /// `--version-script` files.
    pub version_scripts: Vec<PathBuf>,
    /// `--dynamic-list` files.
    pub dynamic_lists: Vec<PathBuf>,
    /// `--export-dynamic` / `-E` / `-rdynamic`.
    pub export_dynamic: bool,
    /// `--export-dynamic-symbol=GLOB` patterns.
    pub export_dynamic_symbols: Vec<String>,
    /// `-Bsymbolic`.
    pub bsymbolic: bool,
    /// `-Bsymbolic-functions` (functions only; TLS and data keep default binding).
    pub bsymbolic_functions: bool,
    /// `--gc-sections`.
    pub gc_sections: bool,
    /// `-z muldefs` / `--allow-multiple-definition`.
    pub allow_multiple_definition: bool,
    /// `-z defs` / `--no-undefined`.
    pub no_undefined: bool,
    /// `--unresolved-symbols=ignore-all` (or `ignore-in-object-files`): undefined references
    /// from objects do not fail the link.
    pub unresolved_ignored: bool,
    /// `-nodefaultlibs` / `-nostdlib`: the driver adds no C library.
    pub no_default_libs: bool,
    /// `-nostartfiles` / `-nostdlib`: the driver adds no start files.
    pub no_start_files: bool,
    /// `-e` / `--entry`.
    pub entry: Option<String>,
    /// `-u SYMBOL` / `--undefined=SYMBOL`.
    pub undefined: Vec<String>,
    /// `--sysroot=` given to the driver.
    pub sysroot: Option<PathBuf>,
    /// `-soname` / `-h`.
    pub soname: Option<String>,
    ld_static: bool,
    ld_no_pie: bool,
    ld_shared: bool,
}

impl Default for LinkLine {
    fn default() -> Self {
        LinkLine {
            items: Vec::new(),
            search_dirs: Vec::new(),
            output: None,
            // Debian's gcc links position-independent executables unless told otherwise.
            output_kind: OutputKind::Pie,
            flavor: LinkerFlavor::GnuLd,
            fuse_ld: None,
            version_scripts: Vec::new(),
            dynamic_lists: Vec::new(),
            export_dynamic: false,
            export_dynamic_symbols: Vec::new(),
            bsymbolic: false,
            bsymbolic_functions: false,
            gc_sections: false,
            allow_multiple_definition: false,
            no_undefined: false,
            unresolved_ignored: false,
            no_default_libs: false,
            no_start_files: false,
            entry: None,
            undefined: Vec::new(),
            sysroot: None,
            soname: None,
            ld_static: false,
            ld_no_pie: false,
            ld_shared: false,
        }
    }
}

/// Driver options that take their value as the next argument (and that we otherwise ignore).
const DRIVER_OPTS_WITH_VALUE: &[&str] = &[
    "-x",
    "-include",
    "-imacros",
    "-isystem",
    "-idirafter",
    "-iprefix",
    "-MF",
    "-MT",
    "-MQ",
    "-specs",
    "-aux-info",
    "-Xassembler",
    "-Xpreprocessor",
    "-dumpbase",
    "-dumpdir",
    "-target",
    "--target",
];

/// Linker options that take their value as the next argument.
const LD_OPTS_WITH_VALUE: &[&str] = &[
    "-m",
    "-T",
    "-rpath",
    "-rpath-link",
    "-Map",
    "-plugin",
    "-plugin-opt",
    "-y",
    "-Y",
    "-G",
    "-a",
    "-A",
    "-b",
    "-c",
    "-f",
    "-F",
    "-O",
    "-P",
    "-R",
    "--hash-style",
    "--build-id",
    "--sysroot",
    "-Ttext",
    "-Tdata",
    "-Tbss",
    "--defsym",
    "--wrap",
    "--exclude-libs",
    "--dynamic-linker",
    "-dynamic-linker",
    "-I",
    "--image-base",
    "--section-start",
    "--retain-symbols-file",
    "--trace-symbol",
    "--filter",
    "--auxiliary",
    "--script",
    "--library-path",
    "--just-symbols",
];

/// Names of compiler drivers and linkers, as `--print=link-args` starts a line with them.
const PROGRAMS: &[&str] = &[
    "cc",
    "c++",
    "gcc",
    "g++",
    "clang",
    "clang++",
    "ld",
    "ld.bfd",
    "ld.lld",
    "ld.gold",
    "ld.mold",
    "lld",
    "rust-lld",
    "rseq-link-wrapper",
];

/// True when `word` (a path or a bare name) names a compiler driver or linker.
pub(crate) fn is_program_name(word: &str) -> bool {
    let base = Path::new(word)
        .file_name()
        .and_then(|b| b.to_str())
        .unwrap_or(word);
    PROGRAMS.contains(&base)
        || ["-gcc", "-cc", "-clang", "-ld", "-g++", "-c++"]
            .iter()
            .any(|s| base.ends_with(s))
}

/// True when `word` is a shell assignment `NAME=value`.
pub(crate) fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            let mut chars = name.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The compiler driver's arguments from a link line as `rustc --print=link-args` prints it
/// (`LC_ALL="C" PATH="…" VSLANG="1033" "cc" "-m64" …`), pasted after `predict --` with or
/// without the shell removing its quotes, or passed as one argument: leading `NAME=value`
/// assignments and the program name are dropped, quotes are removed. Arguments that do not
/// start that way are returned as they are.
pub fn driver_arguments(args: &[String]) -> Vec<String> {
    let unquoted = |w: &str| -> String {
        match shlex::split(w) {
            Some(v) if v.len() == 1 => v.into_iter().next().unwrap_or_default(),
            _ => w.to_string(),
        }
    };
    let printed = |first: &str| {
        let first = unquoted(first);
        is_assignment(&first) || (!first.starts_with('-') && is_program_name(&first))
    };
    let mut words: Vec<String> = match args {
        // One argument holding the whole line.
        [line] if line.contains(char::is_whitespace) => match shlex::split(line) {
            Some(words) => words,
            None => return args.to_vec(),
        },
        [first, ..] if printed(first) => {
            // Words that still carry the printed quotes (`"cc"`, `LC_ALL="C"`).
            args.iter().map(|w| unquoted(w)).collect()
        }
        _ => return args.to_vec(),
    };
    let assignments = words.iter().take_while(|w| is_assignment(w)).count();
    words.drain(..assignments);
    if words
        .first()
        .is_some_and(|w| !w.starts_with('-') && (assignments > 0 || is_program_name(w)))
    {
        words.remove(0);
    }
    words
}

impl LinkLine {
    /// Parses the arguments the compiler driver (`cc`) receives, without the program name.
    /// `@file` response files are expanded relative to the current directory.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<LinkLine, LinkError> {
        let mut expanded = Vec::new();
        for a in args {
            expand_response_files(a.as_ref(), &mut expanded, 0)?;
        }
        let mut line = LinkLine::default();
        let mut i = 0;
        let mut pie_explicit: Option<bool> = None;
        let mut is_static = false;
        let mut static_pie = false;
        let mut shared = false;
        let mut relocatable = false;
        // Linker arguments are collected in order with the positional inputs, so that
        // `-Wl,-Bstatic` applies to the inputs after it.
        let mut ordered: Vec<Result<String, LinkItem>> = Vec::new();
        let next = |i: &mut usize, opt: &str| -> Result<String, LinkError> {
            *i += 1;
            expanded
                .get(*i)
                .cloned()
                .ok_or_else(|| LinkError::Args(format!("`{opt}` needs a value")))
        };
        while i < expanded.len() {
            let a = expanded[i].clone();
            if let Some(rest) = a.strip_prefix("-Wl,") {
                for part in rest.split(',') {
                    ordered.push(Ok(part.to_string()));
                }
            } else if a == "-Xlinker" {
                ordered.push(Ok(next(&mut i, "-Xlinker")?));
            } else if a == "-o" {
                line.output = Some(PathBuf::from(next(&mut i, "-o")?));
            } else if let Some(o) = a.strip_prefix("-o").filter(|o| !o.is_empty()) {
                line.output = Some(PathBuf::from(o));
            } else if a == "-L" {
                line.search_dirs.push(PathBuf::from(next(&mut i, "-L")?));
            } else if let Some(d) = a.strip_prefix("-L") {
                line.search_dirs.push(PathBuf::from(d));
            } else if a == "-l" {
                ordered.push(Err(LinkItem::Library(next(&mut i, "-l")?)));
            } else if let Some(l) = a.strip_prefix("-l") {
                ordered.push(Err(LinkItem::Library(l.to_string())));
            } else if a == "-shared" {
                shared = true;
            } else if a == "-static" {
                is_static = true;
            } else if a == "-static-pie" {
                static_pie = true;
            } else if a == "-pie" {
                pie_explicit = Some(true);
            } else if a == "-no-pie" || a == "-nopie" {
                pie_explicit = Some(false);
            } else if a == "-r" || a == "-relocatable" {
                relocatable = true;
            } else if a == "-nodefaultlibs" {
                line.no_default_libs = true;
            } else if a == "-nostdlib" {
                line.no_default_libs = true;
                line.no_start_files = true;
            } else if a == "-nostartfiles" {
                line.no_start_files = true;
            } else if a == "-rdynamic" {
                line.export_dynamic = true;
            } else if let Some(l) = a.strip_prefix("-fuse-ld=") {
                line.fuse_ld = Some(l.to_string());
            } else if let Some(s) = a.strip_prefix("--sysroot=") {
                line.sysroot = Some(PathBuf::from(s));
            } else if a == "--sysroot" {
                line.sysroot = Some(PathBuf::from(next(&mut i, "--sysroot")?));
            } else if a == "-u" {
                line.undefined.push(next(&mut i, "-u")?);
            } else if a == "-e" {
                line.entry = Some(next(&mut i, "-e")?);
            } else if a == "-z" {
                let v = next(&mut i, "-z")?;
                ordered.push(Ok("-z".to_string()));
                ordered.push(Ok(v));
            } else if a == "-T" {
                ordered.push(Ok("-T".to_string()));
                ordered.push(Ok(next(&mut i, "-T")?));
            } else if a == "-B" {
                next(&mut i, "-B")?;
            } else if DRIVER_OPTS_WITH_VALUE.contains(&a.as_str()) {
                next(&mut i, &a)?;
            } else if a.starts_with('-') && a.len() > 1 {
                // Compiler flags (-m64, -O2, -g, -fPIC, -B<dir>, ...) do not change symbol
                // resolution.
            } else {
                ordered.push(Err(LinkItem::File(PathBuf::from(a))));
            }
            i += 1;
        }
        // Linker-level parsing, keeping order.
        let mut pending: Vec<String> = Vec::new();
        let flush = |pending: &mut Vec<String>, line: &mut LinkLine| -> Result<(), LinkError> {
            let args = std::mem::take(pending);
            parse_ld_args(&args, line)
        };
        for o in ordered {
            match o {
                Ok(s) => pending.push(s),
                Err(item) => {
                    flush(&mut pending, &mut line)?;
                    line.items.push(item);
                }
            }
        }
        flush(&mut pending, &mut line)?;
        line.flavor = match line.fuse_ld.as_deref() {
            Some(l) if l.contains("lld") => LinkerFlavor::Lld,
            _ => LinkerFlavor::GnuLd,
        };
        line.output_kind = if relocatable {
            OutputKind::Relocatable
        } else if shared {
            OutputKind::Shared
        } else if static_pie {
            OutputKind::StaticPie
        } else if is_static || line.ld_static {
            OutputKind::Static
        } else if pie_explicit == Some(false) || line.ld_no_pie {
            OutputKind::Executable
        } else {
            OutputKind::Pie
        };
        if line.ld_shared {
            line.output_kind = OutputKind::Shared;
        }
        if is_static {
            // The driver's `-static` passes `-static` to the linker, which behaves like
            // `-Bstatic` for every `-l` on the line.
            line.items.insert(0, LinkItem::Static(true));
        }
        Ok(line)
    }

    /// True when `-Bsymbolic` makes a shared library's references to `symbol` (of type `kind`)
    /// bind to its own definition at link time.
    pub fn binds_symbolically(&self, is_function: bool) -> bool {
        self.output_kind == OutputKind::Shared
            && (self.bsymbolic || (self.bsymbolic_functions && is_function))
    }
}

/// Parses linker-level options (what follows `-Wl,`), updating `line` in order.
fn parse_ld_args(args: &[String], line: &mut LinkLine) -> Result<(), LinkError> {
    let mut i = 0;
    let value = |i: &mut usize, opt: &str| -> Result<String, LinkError> {
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| LinkError::Args(format!("linker option `{opt}` needs a value")))
    };
    while i < args.len() {
        let a = args[i].as_str();
        // GNU ld accepts both `-opt` and `--opt` for long options.
        let long = a.strip_prefix("--").map(|s| format!("-{s}"));
        let o = long.as_deref().unwrap_or(a);
        let (name, inline) = match o.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (o, None),
        };
        let val = |i: &mut usize| -> Result<String, LinkError> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => value(i, a),
            }
        };
        match name {
            "-Bstatic" | "-dn" | "-non_shared" => line.items.push(LinkItem::Static(true)),
            "-static" => {
                line.items.push(LinkItem::Static(true));
                line.ld_static = true;
            }
            "-Bdynamic" | "-dy" | "-call_shared" => line.items.push(LinkItem::Static(false)),
            "-whole-archive" => line.items.push(LinkItem::WholeArchive(true)),
            "-no-whole-archive" => line.items.push(LinkItem::WholeArchive(false)),
            "-as-needed" => line.items.push(LinkItem::AsNeeded(true)),
            "-no-as-needed" => line.items.push(LinkItem::AsNeeded(false)),
            "-start-group" | "-(" => line.items.push(LinkItem::StartGroup),
            "-end-group" | "-)" => line.items.push(LinkItem::EndGroup),
            "-push-state" => line.items.push(LinkItem::PushState),
            "-pop-state" => line.items.push(LinkItem::PopState),
            "-Bsymbolic" => line.bsymbolic = true,
            "-Bsymbolic-functions" => line.bsymbolic_functions = true,
            "-Bno-symbolic" => {
                line.bsymbolic = false;
                line.bsymbolic_functions = false;
            }
            "-version-script" => line.version_scripts.push(PathBuf::from(val(&mut i)?)),
            "-dynamic-list" => line.dynamic_lists.push(PathBuf::from(val(&mut i)?)),
            "-export-dynamic" | "-E" => line.export_dynamic = true,
            "-export-dynamic-symbol" => line.export_dynamic_symbols.push(val(&mut i)?),
            "-no-export-dynamic" => line.export_dynamic = false,
            "-gc-sections" => line.gc_sections = true,
            "-no-gc-sections" => line.gc_sections = false,
            "-allow-multiple-definition" => line.allow_multiple_definition = true,
            "-no-undefined" => line.no_undefined = true,
            "-unresolved-symbols" => {
                let v = val(&mut i)?;
                line.unresolved_ignored =
                    matches!(v.as_str(), "ignore-all" | "ignore-in-object-files");
            }
            "-shared" | "-Bshareable" => line.ld_shared = true,
            "-pie" | "-pic-executable" => {}
            "-no-pie" => line.ld_no_pie = true,
            "-o" | "-output" => line.output = Some(PathBuf::from(val(&mut i)?)),
            "-soname" | "-h" => line.soname = Some(val(&mut i)?),
            "-entry" | "-e" => line.entry = Some(val(&mut i)?),
            "-undefined" | "-u" => line.undefined.push(val(&mut i)?),
            "-library" => line.items.push(LinkItem::Library(val(&mut i)?)),
            "-L" | "-library-path" => line.search_dirs.push(PathBuf::from(val(&mut i)?)),
            "-z" => {
                let v = val(&mut i)?;
                apply_z(&v, line);
            }
            _ => {
                if let Some(v) = a.strip_prefix("-z").filter(|v| !v.is_empty()) {
                    apply_z(v, line);
                } else if let Some(l) = a.strip_prefix("-l").filter(|l| !l.is_empty()) {
                    line.items.push(LinkItem::Library(l.to_string()));
                } else if let Some(d) = a.strip_prefix("-L").filter(|d| !d.is_empty()) {
                    line.search_dirs.push(PathBuf::from(d));
                } else if LD_OPTS_WITH_VALUE.contains(&name) && inline.is_none() {
                    value(&mut i, a)?;
                } else if !a.starts_with('-') {
                    line.items.push(LinkItem::File(PathBuf::from(a)));
                }
            }
        }
        i += 1;
    }
    Ok(())
}

fn apply_z(v: &str, line: &mut LinkLine) {
    match v {
        "muldefs" => line.allow_multiple_definition = true,
        "defs" => line.no_undefined = true,
        "undefs" => line.no_undefined = false,
        _ => {}
    }
}

/// Expands `@file` arguments the way the GNU driver does (libiberty `expandargv`): the file's
/// contents are split on whitespace, with single quotes, double quotes and backslash escapes.
/// A `@file` that does not name a readable file stays a literal argument, as with gcc.
fn expand_response_files(arg: &str, out: &mut Vec<String>, depth: u32) -> Result<(), LinkError> {
    const MAX_DEPTH: u32 = 16;
    let Some(path) = arg.strip_prefix('@') else {
        out.push(arg.to_string());
        return Ok(());
    };
    if depth >= MAX_DEPTH {
        return Err(LinkError::Args(format!(
            "response file {path} nests more than {MAX_DEPTH} levels deep"
        )));
    }
    let Ok(text) = std::fs::read_to_string(Path::new(path)) else {
        out.push(arg.to_string());
        return Ok(());
    };
    for a in split_response_file(&text) {
        expand_response_files(&a, out, depth + 1)?;
    }
    Ok(())
}

/// Splits response-file text into arguments (libiberty `buildargv` rules).
pub fn split_response_file(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_arg = false;
    let mut squote = false;
    let mut dquote = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c.is_whitespace() && !squote && !dquote {
            if in_arg {
                args.push(std::mem::take(&mut cur));
                in_arg = false;
            }
            continue;
        }
        in_arg = true;
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '\'' if !dquote => squote = !squote,
            '"' if !squote => dquote = !dquote,
            _ => cur.push(c),
        }
    }
    if in_arg {
        args.push(cur);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_wl_and_keeps_order() {
        let line = LinkLine::parse(&[
            "-m64",
            "a.o",
            "-Wl,--as-needed",
            "-Wl,-Bstatic,--whole-archive",
            "x.rlib",
            "-Wl,--no-whole-archive",
            "-Wl,-Bdynamic",
            "-lfoo",
            "-L",
            "/d",
            "-o",
            "out",
            "-Wl,--gc-sections",
            "-shared",
            "-fuse-ld=lld",
            "-Wl,--version-script=v.map",
            "-nodefaultlibs",
        ])
        .unwrap();
        assert_eq!(
            line.items,
            vec![
                LinkItem::File("a.o".into()),
                LinkItem::AsNeeded(true),
                LinkItem::Static(true),
                LinkItem::WholeArchive(true),
                LinkItem::File("x.rlib".into()),
                LinkItem::WholeArchive(false),
                LinkItem::Static(false),
                LinkItem::Library("foo".into()),
            ]
        );
        assert_eq!(line.search_dirs, vec![PathBuf::from("/d")]);
        assert_eq!(line.output.as_deref(), Some(Path::new("out")));
        assert_eq!(line.output_kind, OutputKind::Shared);
        assert_eq!(line.flavor, LinkerFlavor::Lld);
        assert!(line.gc_sections && line.no_default_libs);
        assert_eq!(line.version_scripts, vec![PathBuf::from("v.map")]);
    }

    #[test]
    fn response_file_quoting() {
        assert_eq!(
            split_response_file("a\\ b \"c d\" 'e\"f'\n\\\\g\n"),
            vec!["a b", "c d", "e\"f", "\\g"]
        );
    }

    #[test]
    fn response_file_is_expanded() {
        let dir = std::env::temp_dir().join(format!("rseq-link-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("args");
        std::fs::write(&f, "x.o\n-Wl,-Bsymbolic\n-static\n").unwrap();
        let line = LinkLine::parse(&[format!("@{}", f.display())]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(line.bsymbolic);
        assert_eq!(line.output_kind, OutputKind::Static);
        assert!(line.items.contains(&LinkItem::File("x.o".into())));
    }

    #[test]
    fn missing_value_is_an_error() {
        assert!(LinkLine::parse(&["-o"]).is_err());
    }
}
