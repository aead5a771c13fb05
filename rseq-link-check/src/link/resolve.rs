//! Symbol resolution of a static link, as GNU ld and lld do it.
//!
//! The inputs are visited in command-line order with the state switches (`-Bstatic`,
//! `--whole-archive`, `--as-needed`, groups) applied as they come:
//!
//! - A relocatable object is always loaded: its definitions and references enter the global
//!   symbol table.
//! - An archive (GNU ld): its symbol index is scanned for names that are *currently* undefined
//!   by a non-weak reference; each such member is loaded, and the scan repeats until a pass
//!   loads nothing. References that appear later on the line never come back to the archive
//!   (unless it is inside `--start-group`/`--end-group`). lld instead remembers every archive
//!   symbol as "lazy" and loads the member whenever a non-weak reference shows up, wherever it
//!   stands on the line.
//! - A shared library: its default-version definitions fill symbols that have no definition
//!   yet; they never replace a definition from an object. A symbol defined by a shared
//!   library is no longer undefined, so a later archive does not supply it.
//! - Merging definitions: a non-weak definition replaces a weak one; two non-weak definitions
//!   are a "multiple definition" error; between two weak definitions the first stays; an
//!   object's definition (even weak) wins over a shared library's; a thread-local definition
//!   meeting a non-thread-local one (definition or reference) is an error.
//!
//! Under `--as-needed`, GNU ld keeps a shared library only if it satisfies a non-weak
//! reference that is undefined when the library is reached; lld keeps it if any non-weak
//! reference anywhere ends up bound to it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use super::args::{LinkItem, LinkLine, LinkerFlavor, OutputKind};
use super::input::{
    read_input, ArchiveInput, Binding, DynSymbol, InputFile, ObjSymbol, ObjectInput, ScriptEntry,
    SharedInput, SymType,
};
use super::search::{find_library, script_entry_path, SearchConfig};
use super::LinkError;

/// Where a definition comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefSource {
    /// A loaded relocatable object (index into [`Resolution::objects`]).
    Object(usize),
    /// A shared library (index into [`Resolution::shared`]).
    Shared(usize),
}

/// A definition in the global symbol table.
#[derive(Debug, Clone)]
pub struct Def {
    /// Where it comes from.
    pub source: DefSource,
    /// How the linker names the input (`file`, `archive(member)`).
    pub origin: String,
    /// Binding.
    pub binding: Binding,
    /// Type.
    pub kind: SymType,
    /// `st_size`.
    pub size: u64,
    /// Visibility.
    pub visibility: super::input::Visibility,
    /// A common symbol.
    pub common: bool,
    /// Section index in the object (object definitions only).
    pub section: Option<usize>,
    /// Name of the section (object definitions only).
    pub section_name: Option<String>,
    /// Symbol version (shared-library definitions only).
    pub version: Option<String>,
}

impl Def {
    fn from_obj(obj: usize, origin: &str, s: &ObjSymbol) -> Def {
        Def {
            source: DefSource::Object(obj),
            origin: origin.to_string(),
            binding: s.binding,
            kind: s.kind,
            size: s.size,
            visibility: s.visibility,
            common: s.common,
            section: s.section,
            section_name: s.section_name.clone(),
            version: None,
        }
    }

    fn from_shared(lib: usize, origin: &Path, s: &DynSymbol) -> Def {
        Def {
            source: DefSource::Shared(lib),
            origin: origin.display().to_string(),
            binding: s.binding,
            kind: s.kind,
            size: s.size,
            visibility: s.visibility,
            common: false,
            section: None,
            section_name: None,
            version: s.version.clone(),
        }
    }

    /// True for a definition from a relocatable object.
    pub fn is_regular(&self) -> bool {
        matches!(self.source, DefSource::Object(_))
    }

    fn is_tls(&self) -> bool {
        self.kind == SymType::Tls
    }
}

/// The state of one name in the global symbol table.
#[derive(Debug, Clone, Default)]
pub struct SymState {
    /// The definition the link uses, if any.
    pub def: Option<Def>,
    /// A regular object references it with a non-weak reference.
    pub ref_strong: bool,
    /// A regular object references it with a weak reference.
    pub ref_weak: bool,
    /// Objects that reference it (origins), in load order.
    pub referenced_by: Vec<String>,
    /// The first regular object referencing it as thread-local (`STT_TLS` undefined).
    pub ref_tls: Option<String>,
    /// The first regular object referencing it as anything else (usually `STT_NOTYPE`).
    pub ref_other: Option<String>,
    /// A shared library on the line references it.
    pub ref_dynamic: bool,
    /// The shared libraries on the line that reference it with a non-weak reference (index
    /// into [`Resolution::shared`], path), in line order.
    pub ref_dynamic_strong: Vec<(usize, String)>,
    /// A shared library on the line defines it (even if an object's definition wins).
    pub def_dynamic: bool,
    /// lld: an archive member that would supply it (archive index, member offset).
    lazy: Option<(usize, u64)>,
}

impl SymState {
    fn is_undefined_strong(&self) -> bool {
        self.def.is_none() && self.ref_strong
    }
}

/// A candidate definition of the watched symbol seen anywhere on the line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    /// How the linker names the input.
    pub origin: String,
    /// `object`, `archive-member` or `shared-library`.
    pub input_kind: &'static str,
    /// `st_size`.
    pub size: u64,
    /// Binding.
    pub binding: Binding,
    /// Type.
    #[serde(rename = "type")]
    pub kind: SymType,
    /// Visibility.
    pub visibility: super::input::Visibility,
    /// For archive members: whether the link loads the member.
    pub loaded: bool,
}

/// Why the linker refuses the link.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectionKind {
    /// Two non-weak definitions of one symbol.
    MultipleDefinition,
    /// A thread-local definition meets a non-thread-local definition or reference.
    TlsMismatch,
    /// A non-weak reference nothing defines (executables, or `-z defs`).
    Undefined,
    /// A `-l` library or a file is not found.
    MissingInput,
}

/// A reason the real linker would fail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// What kind of failure.
    pub kind: RejectionKind,
    /// The symbol (or the missing input).
    pub symbol: String,
    /// The first definition or reference involved.
    pub first: String,
    /// The second one, if any.
    pub second: Option<String>,
    /// A message in the linker's own words.
    pub message: String,
}

/// A shared library the output will record in `DT_NEEDED` (or drop under `--as-needed`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NeededLib {
    /// Where it was found.
    pub path: PathBuf,
    /// Its `DT_SONAME`.
    pub soname: Option<String>,
    /// Whether the output keeps it as `DT_NEEDED`.
    pub needed: bool,
}

/// The outcome of symbol resolution for one linker flavour.
#[derive(Debug)]
pub struct Resolution {
    /// The flavour whose rules were applied.
    pub flavor: LinkerFlavor,
    /// Loaded relocatable objects, in load order.
    pub objects: Vec<ObjectInput>,
    /// Shared libraries on the line, in order.
    pub shared: Vec<SharedInput>,
    /// Whether each shared library is kept (`DT_NEEDED`).
    pub shared_needed: Vec<bool>,
    /// The global symbol table.
    pub symbols: HashMap<String, SymState>,
    /// Every definition of the watched symbol seen on the line.
    pub candidates: Vec<Candidate>,
    /// Why the linker would fail.
    pub rejections: Vec<Rejection>,
}

struct Opts {
    is_static: bool,
    whole: bool,
    as_needed: bool,
}

/// Runs symbol resolution over `line` with the rules of `flavor`, tracking `watched`.
pub fn resolve(
    line: &LinkLine,
    flavor: LinkerFlavor,
    config: &SearchConfig,
    watched: &str,
) -> Result<Resolution, LinkError> {
    let mut r = Resolver {
        flavor,
        line,
        config,
        watched,
        archives: Vec::new(),
        loaded_members: HashSet::new(),
        res: Resolution {
            flavor,
            objects: Vec::new(),
            shared: Vec::new(),
            shared_needed: Vec::new(),
            symbols: HashMap::new(),
            candidates: Vec::new(),
            rejections: Vec::new(),
        },
        group: None,
        shared_paths: HashSet::new(),
        pending: VecDeque::new(),
        lld_as_needed: Vec::new(),
    };
    r.run()?;
    Ok(r.res)
}

struct Resolver<'a> {
    flavor: LinkerFlavor,
    line: &'a LinkLine,
    config: &'a SearchConfig,
    watched: &'a str,
    archives: Vec<ArchiveInput>,
    loaded_members: HashSet<(usize, u64)>,
    res: Resolution,
    /// Archives inside the open `--start-group` (GNU ld rescans them at `--end-group`).
    group: Option<Vec<usize>>,
    shared_paths: HashSet<PathBuf>,
    /// lld: archive members to load (worklist, so extraction never recurses deeply).
    pending: VecDeque<(usize, u64)>,
    /// lld: `--as-needed` libraries whose fate is decided at the end.
    lld_as_needed: Vec<usize>,
}

impl Resolver<'_> {
    fn run(&mut self) -> Result<(), LinkError> {
        // Start files reference `main` (the executable's entry reaches it); `-u` adds
        // undefined references of its own.
        let mut roots: Vec<String> = self.line.undefined.clone();
        if self.line.output_kind.is_executable() && !self.line.no_start_files {
            roots.push("main".to_string());
        }
        if let Some(e) = &self.line.entry {
            roots.push(e.clone());
        }
        for name in roots {
            let s = self.res.symbols.entry(name).or_default();
            s.ref_strong = true;
        }
        let kind = self.line.output_kind;
        let (begin, end): (&[&str], &[&str]) = match kind {
            OutputKind::Executable => {
                (&["crt1.o", "crti.o", "crtbegin.o"], &["crtend.o", "crtn.o"])
            }
            OutputKind::Pie => (
                &["Scrt1.o", "crti.o", "crtbeginS.o"],
                &["crtendS.o", "crtn.o"],
            ),
            OutputKind::Static => (
                &["crt1.o", "crti.o", "crtbeginT.o"],
                &["crtend.o", "crtn.o"],
            ),
            OutputKind::StaticPie => (
                &["rcrt1.o", "crti.o", "crtbeginS.o"],
                &["crtendS.o", "crtn.o"],
            ),
            OutputKind::Shared => (&["crti.o", "crtbeginS.o"], &["crtendS.o", "crtn.o"]),
            OutputKind::Relocatable => (&[], &[]),
        };
        let with_start = !self.line.no_start_files;
        let mut opts = Opts {
            is_static: false,
            whole: false,
            as_needed: self.config.default_as_needed,
        };
        if with_start {
            for f in begin {
                if let Some(p) = self.config.start_file(f) {
                    self.add_path(&p, &opts, false)?;
                }
            }
        }
        let mut stack: Vec<(bool, bool, bool)> = Vec::new();
        for item in &self.line.items {
            match item {
                LinkItem::File(p) => self.add_path(p, &opts, true)?,
                LinkItem::Library(name) => {
                    match find_library(name, opts.is_static, &self.line.search_dirs, self.config) {
                        Some(p) => self.add_path(&p, &opts, true)?,
                        None => self.res.rejections.push(Rejection {
                            kind: RejectionKind::MissingInput,
                            symbol: format!("-l{name}"),
                            first: format!("-l{name}"),
                            second: None,
                            message: format!("cannot find -l{name}"),
                        }),
                    }
                }
                LinkItem::Static(b) => opts.is_static = *b,
                LinkItem::WholeArchive(b) => opts.whole = *b,
                LinkItem::AsNeeded(b) => opts.as_needed = *b,
                LinkItem::StartGroup => self.group = Some(Vec::new()),
                LinkItem::EndGroup => self.end_group()?,
                LinkItem::PushState => stack.push((opts.is_static, opts.whole, opts.as_needed)),
                LinkItem::PopState => {
                    if let Some((s, w, a)) = stack.pop() {
                        opts = Opts {
                            is_static: s,
                            whole: w,
                            as_needed: a,
                        };
                    }
                }
            }
        }
        self.end_group()?;
        if !self.line.no_default_libs {
            // What the driver appends: the C library (and its implicit script group).
            let static_libc = matches!(
                self.line.output_kind,
                OutputKind::Static | OutputKind::StaticPie
            );
            // The C library follows the user's inputs and inherits the state they leave.
            let opts = Opts {
                is_static: static_libc || opts.is_static,
                whole: opts.whole,
                as_needed: opts.as_needed,
            };
            // gcc's sequence: -lgcc, libgcc_s as needed, -lc, then both again.
            let seq: &[(&str, bool)] = if static_libc {
                &[
                    ("gcc", false),
                    ("gcc_eh", false),
                    ("c", false),
                    ("gcc", false),
                    ("gcc_eh", false),
                ]
            } else {
                &[
                    ("gcc", false),
                    ("gcc_s", true),
                    ("c", false),
                    ("gcc", false),
                    ("gcc_s", true),
                ]
            };
            for &(lib, as_needed) in seq {
                let o = Opts {
                    is_static: opts.is_static,
                    whole: false,
                    as_needed: opts.as_needed || as_needed,
                };
                let found = find_library(lib, o.is_static, &self.line.search_dirs, self.config);
                if let Some(p) = found {
                    self.add_path(&p, &o, false)?;
                }
            }
        }
        if with_start {
            for f in end {
                if let Some(p) = self.config.start_file(f) {
                    self.add_path(&p, &opts, false)?;
                }
            }
        }
        self.finish_as_needed();
        self.check_references();
        Ok(())
    }

    fn add_path(&mut self, path: &Path, opts: &Opts, explicit: bool) -> Result<(), LinkError> {
        let file = match read_input(path) {
            Ok(f) => f,
            Err(LinkError::Io { .. }) if !explicit => return Ok(()),
            Err(LinkError::Io { path, .. }) => {
                self.res.rejections.push(Rejection {
                    kind: RejectionKind::MissingInput,
                    symbol: path.display().to_string(),
                    first: path.display().to_string(),
                    second: None,
                    message: format!("cannot find {}", path.display()),
                });
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match file {
            InputFile::Object(o) => {
                self.add_object(o);
                self.drain_pending()?;
            }
            InputFile::Archive(a) => self.add_archive(a, opts)?,
            InputFile::Shared(s) => self.add_shared(s, opts.as_needed)?,
            InputFile::Script(entries, group) => self.add_script(path, &entries, group, opts)?,
        }
        Ok(())
    }

    fn add_script(
        &mut self,
        script: &Path,
        entries: &[ScriptEntry],
        group: bool,
        opts: &Opts,
    ) -> Result<(), LinkError> {
        let outer = self.group.take();
        if group {
            self.group = Some(Vec::new());
        }
        for e in entries {
            let o = Opts {
                is_static: opts.is_static,
                whole: opts.whole,
                as_needed: opts.as_needed || e.as_needed,
            };
            let path = match e.name.strip_prefix("-l") {
                Some(name) => {
                    find_library(name, opts.is_static, &self.line.search_dirs, self.config)
                }
                None if Path::new(&e.name).is_absolute() || Path::new(&e.name).is_file() => {
                    Some(script_entry_path(&e.name, script, self.config))
                }
                // A relative name: the library search path, as for `-l:NAME`.
                None => find_library(
                    &format!(":{}", e.name),
                    false,
                    &self.line.search_dirs,
                    self.config,
                )
                .or_else(|| Some(script_entry_path(&e.name, script, self.config))),
            };
            if let Some(p) = path {
                self.add_path(&p, &o, true)?;
            }
        }
        if group {
            self.end_group()?;
        }
        self.group = outer;
        Ok(())
    }

    fn end_group(&mut self) -> Result<(), LinkError> {
        let Some(members) = self.group.take() else {
            return Ok(());
        };
        if self.flavor == LinkerFlavor::GnuLd {
            // Rescan the group's archives until a whole pass loads nothing.
            let mut guard = 0usize;
            loop {
                guard += 1;
                let mut progress = false;
                for &a in &members {
                    progress |= self.scan_archive_gnu(a)?;
                }
                if !progress || guard > 10_000 {
                    break;
                }
            }
        }
        Ok(())
    }

    fn add_archive(&mut self, a: ArchiveInput, opts: &Opts) -> Result<(), LinkError> {
        let idx = self.archives.len();
        // Note every candidate definition of the watched symbol the archive offers.
        let watched_members: Vec<u64> = a
            .archive
            .index
            .iter()
            .filter(|(n, _)| n == self.watched)
            .map(|(_, off)| *off)
            .collect();
        self.archives.push(a);
        if let Some(g) = &mut self.group {
            g.push(idx);
        }
        if opts.whole {
            let members: Vec<u64> = self.archives[idx]
                .archive
                .members
                .iter()
                .map(|m| m.0)
                .collect();
            for off in members {
                self.load_member(idx, off)?;
            }
        } else {
            match self.flavor {
                LinkerFlavor::GnuLd => {
                    let mut guard = 0usize;
                    while self.scan_archive_gnu(idx)? && guard < 100_000 {
                        guard += 1;
                    }
                }
                LinkerFlavor::Lld => {
                    let index = self.archives[idx].archive.index.clone();
                    for (name, off) in index {
                        let s = self.res.symbols.entry(name).or_default();
                        if s.def.is_some() {
                            continue;
                        }
                        if s.ref_strong || s.ref_dynamic {
                            self.pending.push_back((idx, off));
                        } else if s.lazy.is_none() {
                            s.lazy = Some((idx, off));
                        }
                    }
                    self.drain_pending()?;
                }
            }
        }
        for off in watched_members {
            if !self.loaded_members.contains(&(idx, off)) {
                if let Ok(obj) = self.archives[idx].load_member(off) {
                    self.note_candidates(&obj, false);
                }
            }
        }
        Ok(())
    }

    /// One GNU ld pass over an archive's index; true when it loaded a member.
    fn scan_archive_gnu(&mut self, idx: usize) -> Result<bool, LinkError> {
        let mut progress = false;
        let index = self.archives[idx].archive.index.clone();
        for (name, off) in index {
            if self.loaded_members.contains(&(idx, off)) {
                continue;
            }
            let wanted = self
                .res
                .symbols
                .get(&name)
                .is_some_and(|s| s.def.is_none() && (s.ref_strong || s.ref_dynamic));
            if wanted {
                self.load_member(idx, off)?;
                progress = true;
            }
        }
        Ok(progress)
    }

    fn load_member(&mut self, idx: usize, off: u64) -> Result<(), LinkError> {
        if !self.loaded_members.insert((idx, off)) {
            return Ok(());
        }
        let obj = self.archives[idx].load_member(off)?;
        self.add_object(obj);
        self.drain_pending()
    }

    fn drain_pending(&mut self) -> Result<(), LinkError> {
        let mut guard = 0usize;
        while let Some((a, off)) = self.pending.pop_front() {
            guard += 1;
            if guard > 1_000_000 {
                break;
            }
            if !self.loaded_members.insert((a, off)) {
                continue;
            }
            let obj = self.archives[a].load_member(off)?;
            self.add_object(obj);
        }
        Ok(())
    }

    fn note_candidates(&mut self, obj: &ObjectInput, loaded: bool) {
        let member = obj.origin.ends_with(')');
        for s in obj
            .symbols
            .iter()
            .filter(|s| s.defined && s.name == self.watched)
        {
            self.res.candidates.push(Candidate {
                origin: obj.origin.clone(),
                input_kind: if member { "archive-member" } else { "object" },
                size: s.size,
                binding: s.binding,
                kind: s.kind,
                visibility: s.visibility,
                loaded,
            });
        }
    }

    fn add_object(&mut self, obj: ObjectInput) {
        let oi = self.res.objects.len();
        self.note_candidates(&obj, true);
        for s in &obj.symbols {
            if s.defined {
                self.merge_regular_def(&s.name, Def::from_obj(oi, &obj.origin, s));
            } else {
                let st = self.res.symbols.entry(s.name.clone()).or_default();
                let weak = s.binding == Binding::Weak;
                if weak {
                    st.ref_weak = true;
                } else {
                    st.ref_strong = true;
                }
                if s.kind == SymType::Tls {
                    st.ref_tls.get_or_insert_with(|| obj.origin.clone());
                } else {
                    st.ref_other.get_or_insert_with(|| obj.origin.clone());
                }
                st.referenced_by.push(obj.origin.clone());
                if !weak && st.def.is_none() {
                    if let Some(l) = st.lazy.take() {
                        self.pending.push_back(l);
                    }
                }
            }
        }
        self.res.objects.push(obj);
    }

    fn merge_regular_def(&mut self, sym_name: &str, new: Def) {
        let sym_name = sym_name.to_string();
        let allow_muldefs = self.line.allow_multiple_definition;
        let flavor = self.flavor;
        let st = self.res.symbols.entry(sym_name.clone()).or_default();
        st.lazy = None;
        let Some(old) = st.def.clone() else {
            st.def = Some(new);
            return;
        };
        let tls_conflict = old.is_tls() != new.is_tls()
            && old.kind != SymType::NoType
            && new.kind != SymType::NoType;
        let (tls, non) = if old.is_tls() {
            (&old, &new)
        } else {
            (&new, &old)
        };
        // GNU ld checks every pair of definitions it loads.
        if tls_conflict && flavor == LinkerFlavor::GnuLd {
            self.res
                .rejections
                .push(tls_rejection(flavor, &sym_name, tls, non));
            return;
        }
        if !old.is_regular() {
            // An object's definition replaces a shared library's (lld checks the types when
            // it replaces a symbol).
            if tls_conflict {
                self.res
                    .rejections
                    .push(tls_rejection(flavor, &sym_name, tls, non));
                return;
            }
            st.def_dynamic = true;
            st.def = Some(new);
            return;
        }
        let old_weak = old.binding == Binding::Weak;
        let new_weak = new.binding == Binding::Weak;
        if tls_conflict && old_weak && !new_weak {
            self.res
                .rejections
                .push(tls_rejection(flavor, &sym_name, tls, non));
            return;
        }
        if old.common || new.common {
            if old.common && new.common {
                if new.size > old.size {
                    st.def = Some(new);
                }
            } else if old.common {
                st.def = Some(new);
            }
            return;
        }
        if old_weak && !new_weak {
            st.def = Some(new);
        } else if !old_weak && !new_weak && old.binding != Binding::Unique && !allow_muldefs {
            self.res.rejections.push(Rejection {
                kind: RejectionKind::MultipleDefinition,
                symbol: sym_name.clone(),
                first: old.origin.clone(),
                second: Some(new.origin.clone()),
                message: match flavor {
                    LinkerFlavor::GnuLd => format!(
                        "{}: multiple definition of `{sym_name}'; {}: first defined here",
                        new.origin, old.origin
                    ),
                    LinkerFlavor::Lld => format!(
                        "duplicate symbol: {sym_name}\n>>> defined at {}\n>>> defined at {}",
                        old.origin, new.origin
                    ),
                },
            });
        }
    }

    fn add_shared(&mut self, lib: SharedInput, as_needed: bool) -> Result<(), LinkError> {
        let key = lib.path.canonicalize().unwrap_or_else(|_| lib.path.clone());
        if !self.shared_paths.insert(key) {
            return Ok(());
        }
        let li = self.res.shared.len();
        // GNU ld: under --as-needed the library counts only if it satisfies a non-weak
        // reference that is undefined right now; otherwise its symbols are not used at all.
        let gnu_needed = !as_needed
            || lib.defs.keys().any(|n| {
                self.res
                    .symbols
                    .get(n)
                    .is_some_and(SymState::is_undefined_strong)
            });
        if self.flavor == LinkerFlavor::GnuLd && !gnu_needed {
            if let Some(d) = lib.defs.get(self.watched) {
                self.res.candidates.push(Candidate {
                    origin: lib.path.display().to_string(),
                    input_kind: "shared-library",
                    size: d.size,
                    binding: d.binding,
                    kind: d.kind,
                    visibility: d.visibility,
                    loaded: false,
                });
            }
            self.res.shared.push(lib);
            self.res.shared_needed.push(false);
            return Ok(());
        }
        for (name, d) in &lib.defs {
            if name == self.watched {
                self.res.candidates.push(Candidate {
                    origin: lib.path.display().to_string(),
                    input_kind: "shared-library",
                    size: d.size,
                    binding: d.binding,
                    kind: d.kind,
                    visibility: d.visibility,
                    loaded: true,
                });
            }
            let st = self.res.symbols.entry(name.clone()).or_default();
            match &st.def {
                None => {
                    st.def = Some(Def::from_shared(li, &lib.path, d));
                    st.lazy = None;
                }
                Some(old) => {
                    if old.is_regular() {
                        st.def_dynamic = true;
                    }
                    if old.is_tls() != (d.kind == SymType::Tls)
                        && old.kind != SymType::NoType
                        && d.kind != SymType::NoType
                    {
                        let new = Def::from_shared(li, &lib.path, d);
                        let (tls, non) = if old.is_tls() {
                            (old, &new)
                        } else {
                            (&new, old)
                        };
                        let rej = tls_rejection(self.flavor, name, tls, non);
                        self.res.rejections.push(rej);
                    }
                }
            }
        }
        for name in &lib.undefs {
            let st = self.res.symbols.entry(name.clone()).or_default();
            st.ref_dynamic = true;
            if lib.strong_undefs.contains(name) {
                st.ref_dynamic_strong
                    .push((li, lib.path.display().to_string()));
            }
            if st.def.is_none() {
                if let Some(l) = st.lazy.take() {
                    self.pending.push_back(l);
                }
            }
        }
        self.res.shared.push(lib);
        // lld decides at the end (see `finish_as_needed`).
        self.res
            .shared_needed
            .push(if self.flavor == LinkerFlavor::Lld {
                !as_needed
            } else {
                true
            });
        if self.flavor == LinkerFlavor::Lld && as_needed {
            self.lld_as_needed.push(li);
        }
        self.drain_pending()
    }

    /// lld keeps an `--as-needed` library when a non-weak reference from an object ends up
    /// bound to one of its definitions, wherever the reference stands on the line.
    fn finish_as_needed(&mut self) {
        for &li in &self.lld_as_needed {
            let used = self.res.symbols.values().any(|st| {
                st.ref_strong
                    && st
                        .def
                        .as_ref()
                        .is_some_and(|d| d.source == DefSource::Shared(li))
            });
            self.res.shared_needed[li] = used;
        }
    }

    /// TLS references meeting non-TLS definitions, and undefined references.
    fn check_references(&mut self) {
        let mut names: Vec<&String> = self.res.symbols.keys().collect();
        names.sort();
        let mut rejections = Vec::new();
        for name in names {
            let st = &self.res.symbols[name];
            let Some(rorigin) = st.ref_tls.as_ref().or(st.ref_other.as_ref()) else {
                continue;
            };
            match &st.def {
                Some(def) if def.kind != SymType::NoType => {
                    // A thread-local reference to a non-thread-local definition fails with
                    // both linkers (lld: as a relocation error when the definition came
                    // first). GNU ld also refuses a plain reference to a thread-local
                    // definition; lld accepts it.
                    if let (Some(r), false) = (&st.ref_tls, def.is_tls()) {
                        rejections.push(tls_ref_rejection(self.flavor, name, def, r, true));
                    } else if let (Some(r), true, LinkerFlavor::GnuLd) =
                        (&st.ref_other, def.is_tls(), self.flavor)
                    {
                        rejections.push(tls_ref_rejection(self.flavor, name, def, r, false));
                    }
                }
                Some(_) => {}
                None => {
                    let exe = self.line.output_kind.is_executable();
                    if st.ref_strong
                        && (exe || self.line.no_undefined)
                        && !self.line.unresolved_ignored
                        && name == self.watched
                    {
                        rejections.push(Rejection {
                            kind: RejectionKind::Undefined,
                            symbol: name.clone(),
                            first: rorigin.clone(),
                            second: None,
                            message: format!("{rorigin}: undefined reference to `{name}'"),
                        });
                    }
                }
            }
        }
        // --no-allow-shlib-undefined, both linkers' default for an executable: a non-weak
        // reference of a shared library on the line that nothing defines fails the link.
        // GNU ld checks only the libraries it keeps (an --as-needed library it drops is
        // never looked at); lld checks every one.
        if self.line.output_kind.is_executable() {
            if let Some(st) = self.res.symbols.get(self.watched) {
                let lib = st.ref_dynamic_strong.iter().find(|(li, _)| {
                    self.flavor == LinkerFlavor::Lld
                        || self.res.shared_needed.get(*li).copied().unwrap_or(false)
                });
                if let (None, false, Some((_, lib))) = (&st.def, st.ref_strong, lib) {
                    let name = self.watched;
                    rejections.push(Rejection {
                        kind: RejectionKind::Undefined,
                        symbol: name.to_string(),
                        first: lib.clone(),
                        second: None,
                        message: match self.flavor {
                            LinkerFlavor::GnuLd => {
                                format!("{lib}: undefined reference to `{name}'")
                            }
                            LinkerFlavor::Lld => format!(
                                "{lib}: undefined reference to {name} [--no-allow-shlib-undefined]"
                            ),
                        },
                    });
                }
            }
        }
        self.res.rejections.extend(rejections);
    }
}

fn tls_rejection(flavor: LinkerFlavor, name: &str, tls: &Def, non: &Def) -> Rejection {
    Rejection {
        kind: RejectionKind::TlsMismatch,
        symbol: name.to_string(),
        first: tls.origin.clone(),
        second: Some(non.origin.clone()),
        message: match flavor {
            LinkerFlavor::GnuLd => format!(
                "{name}: TLS definition in {} mismatches non-TLS definition in {}",
                tls.origin, non.origin
            ),
            LinkerFlavor::Lld => format!("TLS attribute mismatch: {name}"),
        },
    }
}

fn tls_ref_rejection(
    flavor: LinkerFlavor,
    name: &str,
    def: &Def,
    reference: &str,
    ref_tls: bool,
) -> Rejection {
    let message = match flavor {
        LinkerFlavor::GnuLd if ref_tls => format!(
            "{name}: TLS reference in {reference} mismatches non-TLS definition in {}",
            def.origin
        ),
        LinkerFlavor::GnuLd => format!(
            "{name}: TLS definition in {} mismatches non-TLS reference in {reference}",
            def.origin
        ),
        LinkerFlavor::Lld => format!("TLS attribute mismatch: {name}"),
    };
    Rejection {
        kind: RejectionKind::TlsMismatch,
        symbol: name.to_string(),
        first: def.origin.clone(),
        second: Some(reference.to_string()),
        message,
    }
}
