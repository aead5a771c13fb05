//! A model of glibc 2.36's dynamic loader (`ld.so`): which files a program loads, in which
//! order, and which definition every symbol reference binds to. It never runs the program.
//!
//! Loading follows `elf/rtld.c` and `elf/dl-deps.c`: the executable, then the preloads
//! (`LD_PRELOAD`, then an `ld.so.preload` file), then a breadth-first walk of DT_NEEDED;
//! an object already loaded is recognised by name, SONAME or file identity. Each name is
//! searched as `elf/dl-load.c` does ([`search`]), with `/etc/ld.so.cache` read for real
//! ([`cache`]). Symbol lookup is `elf/dl-lookup.c` ([`lookup`]); relocation processing
//! ([`bindings`]) yields what `LD_DEBUG=bindings` prints with immediate binding.

pub mod bindings;
pub mod cache;
pub mod lookup;
pub mod search;
pub mod vdso;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::elf::{ElfFile, FileType, Machine};
use crate::error::{Error, Result};
pub use cache::LdCache;
pub use search::Platform;

/// How a simulated `dlopen` opens a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DlopenMode {
    /// `RTLD_LOCAL`: the module's dependencies form a local scope searched after the global one.
    Local,
    /// `RTLD_GLOBAL`: the module and its dependencies join the global scope.
    Global,
    /// `RTLD_LOCAL | RTLD_DEEPBIND`: the local scope is searched before the global one.
    Deepbind,
}

impl std::str::FromStr for DlopenMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "local" | "rtld_local" => Ok(DlopenMode::Local),
            "global" | "rtld_global" => Ok(DlopenMode::Global),
            "deepbind" | "rtld_deepbind" => Ok(DlopenMode::Deepbind),
            other => Err(format!(
                "unknown dlopen mode `{other}` (local, global or deepbind)"
            )),
        }
    }
}

/// What the model is told about the environment the program would start in.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `LD_PRELOAD` entries (already split), in order.
    pub preload: Vec<String>,
    /// An `ld.so.preload` file whose entries are preloaded after `LD_PRELOAD`.
    pub preload_file: Option<PathBuf>,
    /// `LD_LIBRARY_PATH` directories, in order.
    pub library_path: Vec<String>,
    /// A root directory all absolute paths are looked up under.
    pub sysroot: Option<PathBuf>,
    /// Secure (set-user-ID) mode: `LD_LIBRARY_PATH` ignored, preloads restricted, `$ORIGIN`
    /// restricted.
    pub secure: bool,
    /// `LD_DYNAMIC_WEAK`: a weak definition does not end the lookup.
    pub dynamic_weak: bool,
    /// The cache file; default `/etc/ld.so.cache` under the sysroot.
    pub cache: Option<PathBuf>,
    /// Modules opened with `dlopen` after start-up, in order.
    pub dlopen: Vec<(String, DlopenMode)>,
    /// Include the kernel's vDSO (read from this process) like the loader does.
    pub vdso: bool,
    /// `GLIBC_TUNABLES` of the environment (`glibc.pthread.rseq=0` turns off the C
    /// library's own rseq registration).
    pub glibc_tunables: Option<String>,
    /// Model `ldd -r` (`LD_TRACE_LOADED_OBJECTS=1 LD_BIND_NOW=1`): in trace mode the loader
    /// relocates every object except itself.
    pub trace: bool,
}

impl Options {
    /// True unless `GLIBC_TUNABLES` sets `glibc.pthread.rseq=0`.
    pub fn glibc_registers_rseq(&self) -> bool {
        !self.glibc_tunables.as_deref().is_some_and(|t| {
            t.split(':')
                .filter_map(|kv| kv.split_once('='))
                .any(|(k, v)| k == "glibc.pthread.rseq" && v == "0")
        })
    }

    /// Splits an `LD_PRELOAD` value on spaces and colons, as `rtld.c` does.
    pub fn split_preload(value: &str) -> Vec<String> {
        value
            .split([' ', ':'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// Index of a module in [`Process::modules`].
pub type ModuleId = usize;

/// How a module came to be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadReason {
    /// The analysed program.
    Executable,
    /// The program interpreter (`PT_INTERP`).
    Interpreter,
    /// `LD_PRELOAD` or `ld.so.preload`.
    Preload,
    /// DT_NEEDED of another module.
    Needed,
    /// A simulated `dlopen`, or a dependency of one.
    Dlopen,
    /// The kernel's vDSO.
    Vdso,
}

/// One loaded module (glibc's `struct link_map`).
#[derive(Debug)]
pub struct Module {
    /// The name the loader records (`l_name`): the path as found.
    pub name: String,
    /// The parsed file.
    pub file: ElfFile,
    /// The module whose DT_NEEDED (or preload/dlopen) loaded it (`l_loader`).
    pub loader: Option<ModuleId>,
    /// Why it is loaded.
    pub reason: LoadReason,
    /// Other names it is known by (`l_libname`): requested names and SONAME.
    pub names: Vec<String>,
    /// Its lookup scope: lists of modules searched in order (`l_scope`).
    pub scope: Vec<Vec<ModuleId>>,
    /// The directory `$ORIGIN` expands to.
    pub origin: Option<String>,
    /// The modules it needs, as found, in DT_NEEDED order.
    pub needed: Vec<ModuleId>,
}

impl Module {
    /// True for the executable.
    pub fn is_executable(&self) -> bool {
        self.reason == LoadReason::Executable
    }
}

/// A DT_NEEDED (or preload, or dlopen) name that was not found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingFile {
    /// The name searched for.
    pub name: String,
    /// The module that needed it; for a preload, where it was named (`LD_PRELOAD` or the
    /// preload file's path); `dlopen` for a simulated dlopen.
    pub needed_by: String,
    /// True for a preload (or a simulated dlopen), which the loader ignores (a preload with
    /// a message) instead of stopping.
    pub ignored: bool,
}

/// A required symbol version no loaded module defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingVersion {
    /// The version name.
    pub version: String,
    /// The file it is required from.
    pub file: String,
    /// The module requiring it.
    pub required_by: String,
}

/// The modelled process after start-up (and simulated dlopens).
#[derive(Debug)]
pub struct Process {
    /// All modules, executable first.
    pub modules: Vec<Module>,
    /// The global search list (`main_map->l_searchlist`), which is also the load order.
    pub global: Vec<ModuleId>,
    /// Modules added by simulated dlopens, with the mode, in load order.
    pub dlopened: Vec<(ModuleId, DlopenMode, Vec<ModuleId>)>,
    /// Names that were not found.
    pub missing: Vec<MissingFile>,
    /// Required versions not defined.
    pub missing_versions: Vec<MissingVersion>,
    /// The machine of the executable.
    pub machine: Machine,
    /// The platform facts used.
    pub platform: Platform,
    /// The kernel's vDSO, if modelled.
    pub vdso: Option<ModuleId>,
    /// Options the process was modelled with.
    pub options: Options,
}

struct Loader<'o> {
    opts: &'o Options,
    platform: Platform,
    cache: Option<LdCache>,
    machine: Machine,
    modules: Vec<Module>,
    by_id: HashMap<(u64, u64), ModuleId>,
    /// Every name a module is known by (`l_name`, `l_libname`, SONAME), first module wins.
    by_name: HashMap<String, ModuleId>,
    missing: Vec<MissingFile>,
}

/// Dirname of a path as glibc computes `l_origin` (no symlink resolution except for the
/// executable, whose origin comes from `/proc/self/exe`).
fn dirname(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => path[..i].to_string(),
        None => ".".to_string(),
    }
}

impl<'o> Loader<'o> {
    fn host_path(&self, path: &str) -> PathBuf {
        match &self.opts.sysroot {
            Some(root) if path.starts_with('/') => root.join(path.trim_start_matches('/')),
            _ => PathBuf::from(path),
        }
    }

    fn cache(&mut self) -> &LdCache {
        if self.cache.is_none() {
            let path = match &self.opts.cache {
                Some(p) => p.clone(),
                None => self.host_path("/etc/ld.so.cache"),
            };
            self.cache = Some(LdCache::load(&path, self.machine, &self.platform.hwcaps));
        }
        self.cache.as_ref().expect("cache loaded above")
    }

    fn find_loaded(&self, name: &str) -> Option<ModuleId> {
        self.by_name.get(name).copied()
    }

    fn add_name(&mut self, id: ModuleId, name: &str) {
        self.modules[id].names.push(name.to_string());
        self.by_name.entry(name.to_string()).or_insert(id);
    }

    /// Opens a candidate file as `open_verify` does: `Ok(None)` when it does not exist or is
    /// of another class or machine (the search goes on), `Err` when it exists but is broken.
    fn open_candidate(&self, path: &str) -> Result<Option<ElfFile>> {
        let host = self.host_path(path);
        match ElfFile::open(&host) {
            Ok(f) if f.machine == self.machine && f.file_type != FileType::Relocatable => {
                Ok(Some(f))
            }
            Ok(_) => Ok(None),
            Err(Error::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                Ok(None)
            }
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(20) => Ok(None),
            Err(Error::Unsupported { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn try_dirs(&self, dirs: &[String], name: &str) -> Result<Option<(String, ElfFile)>> {
        for dir in dirs {
            for sub in &self.platform.subdirs {
                let candidate = format!("{dir}{sub}{name}");
                if let Some(f) = self.open_candidate(&candidate)? {
                    return Ok(Some((candidate, f)));
                }
            }
        }
        Ok(None)
    }

    fn rpath_dirs(&self, id: ModuleId, runpath: bool) -> Vec<String> {
        let m = &self.modules[id];
        let Some(d) = m.file.dynamic.as_ref() else {
            return Vec::new();
        };
        let list = if runpath {
            d.runpath.as_deref()
        } else if d.runpath.is_some() {
            None // RPATH is ignored when RUNPATH is present.
        } else {
            d.rpath.as_deref()
        };
        match list {
            Some(l) => {
                search::expand_path_list(l, m.origin.as_deref(), &self.platform, self.opts.secure)
            }
            None => Vec::new(),
        }
    }

    /// `_dl_map_object`: the module for `name` requested by `loader`.
    fn map_object(
        &mut self,
        name: &str,
        loader: Option<ModuleId>,
        reason: LoadReason,
    ) -> Result<Option<ModuleId>> {
        if let Some(id) = self.find_loaded(name) {
            return Ok(Some(id));
        }
        let found = if name.contains('/') {
            let origin = loader.and_then(|l| self.modules[l].origin.clone());
            match search::expand_dst(name, origin.as_deref(), &self.platform, self.opts.secure) {
                Some(path) => self.open_candidate(&path)?.map(|f| (path, f)),
                None => None,
            }
        } else {
            self.search(name, loader)?
        };
        let Some((path, file)) = found else {
            return Ok(None);
        };
        if let Some(&id) = self.by_id.get(&file.file_id()) {
            self.add_name(id, name);
            return Ok(Some(id));
        }
        let origin = Some(dirname(&path));
        let id = self.add(path, file, loader, reason, origin);
        self.add_name(id, name);
        Ok(Some(id))
    }

    fn search(
        &mut self,
        name: &str,
        loader: Option<ModuleId>,
    ) -> Result<Option<(String, ElfFile)>> {
        let main = 0;
        let loader_has_runpath = loader
            .and_then(|l| self.modules[l].file.dynamic.as_ref())
            .is_some_and(|d| d.runpath.is_some());
        if !loader_has_runpath {
            let mut did_main = false;
            let mut l = loader;
            let mut steps = 0;
            while let Some(id) = l {
                let dirs = self.rpath_dirs(id, false);
                if !dirs.is_empty() {
                    if let Some(r) = self.try_dirs(&dirs, name)? {
                        return Ok(Some(r));
                    }
                    did_main |= id == main;
                }
                l = self.modules[id].loader;
                steps += 1;
                if steps > self.modules.len() {
                    break;
                }
            }
            if !did_main && !self.modules.is_empty() && self.modules[main].is_executable() {
                let dirs = self.rpath_dirs(main, false);
                if let Some(r) = self.try_dirs(&dirs, name)? {
                    return Ok(Some(r));
                }
            }
        }
        if !self.opts.secure && !self.opts.library_path.is_empty() {
            let origin = self
                .modules
                .get(loader.unwrap_or(main))
                .and_then(|m| m.origin.clone());
            let list = self.opts.library_path.join(":");
            let dirs = search::expand_path_list(&list, origin.as_deref(), &self.platform, false);
            if let Some(r) = self.try_dirs(&dirs, name)? {
                return Ok(Some(r));
            }
        }
        if let Some(l) = loader {
            let dirs = self.rpath_dirs(l, true);
            if let Some(r) = self.try_dirs(&dirs, name)? {
                return Ok(Some(r));
            }
        }
        let nodeflib = self
            .modules
            .get(loader.unwrap_or(main))
            .and_then(|m| m.file.dynamic.as_ref())
            .is_some_and(|d| d.nodeflib());
        if let Some(path) = self.cache().lookup(name).map(str::to_string) {
            let in_system = self
                .platform
                .system_dirs
                .iter()
                .any(|d| path.starts_with(d.as_str()));
            if !(nodeflib && in_system) {
                if let Some(f) = self.open_candidate(&path)? {
                    return Ok(Some((path, f)));
                }
            }
        }
        if !nodeflib {
            let dirs = self.platform.system_dirs.clone();
            if let Some(r) = self.try_dirs(&dirs, name)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    fn add(
        &mut self,
        name: String,
        file: ElfFile,
        loader: Option<ModuleId>,
        reason: LoadReason,
        origin: Option<String>,
    ) -> ModuleId {
        let id = self.modules.len();
        if reason != LoadReason::Vdso {
            self.by_id.insert(file.file_id(), id);
            self.by_name.entry(name.clone()).or_insert(id);
            if let Some(soname) = file.soname() {
                self.by_name.entry(soname.to_string()).or_insert(id);
            }
        }
        self.modules.push(Module {
            name,
            file,
            loader,
            reason,
            names: Vec::new(),
            scope: Vec::new(),
            origin,
            needed: Vec::new(),
        });
        id
    }

    /// `_dl_map_object_deps`: breadth-first over DT_NEEDED from `start`; returns the search list.
    ///
    /// A filter object's filtees (`DT_FILTER`, `DT_AUXILIARY`) go into the list just before
    /// the filter, in order (one already further down the list moves up; one already before
    /// the filter stays), so that lookups find their definitions first, and their own
    /// dependencies are processed next. A `DT_FILTER` filtee that is not found stops the
    /// program; a `DT_AUXILIARY` one is skipped silently.
    fn map_deps(&mut self, start: Vec<ModuleId>, reason: LoadReason) -> Result<Vec<ModuleId>> {
        let mut list = start;
        let mut in_list: std::collections::HashSet<ModuleId> = list.iter().copied().collect();
        let mut done: std::collections::HashSet<ModuleId> = std::collections::HashSet::new();
        while let Some(i) = list.iter().position(|m| !done.contains(m)) {
            let id = list[i];
            done.insert(id);
            let (needed, filtees) = self.modules[id]
                .file
                .dynamic
                .as_ref()
                .map(|d| (d.needed.clone(), d.filtees.clone()))
                .unwrap_or_default();
            for name in needed {
                match self.map_object(&name, Some(id), reason)? {
                    Some(dep) => {
                        if !self.modules[id].needed.contains(&dep) {
                            self.modules[id].needed.push(dep);
                        }
                        if in_list.insert(dep) {
                            list.push(dep);
                        }
                    }
                    None => self.missing.push(MissingFile {
                        name,
                        needed_by: self.modules[id].name.clone(),
                        ignored: false,
                    }),
                }
            }
            // The filter's position; each filtee goes just before it.
            let mut at = i;
            for filtee in filtees {
                let Some(dep) = self.map_object(&filtee.name, Some(id), reason)? else {
                    if !filtee.auxiliary {
                        self.missing.push(MissingFile {
                            name: filtee.name,
                            needed_by: self.modules[id].name.clone(),
                            ignored: false,
                        });
                    }
                    continue;
                };
                if dep == id {
                    continue;
                }
                if !self.modules[id].needed.contains(&dep) {
                    self.modules[id].needed.push(dep);
                }
                match list.iter().position(|&m| m == dep) {
                    Some(p) if p < at => continue,
                    Some(p) => {
                        list.remove(p);
                    }
                    None => {
                        in_list.insert(dep);
                    }
                }
                list.insert(at, dep);
                at += 1;
            }
        }
        Ok(list)
    }
}

impl Process {
    /// Models the start of `program` (and then the configured dlopens).
    pub fn load(program: &Path, opts: &Options) -> Result<Process> {
        let main_host = match &opts.sysroot {
            Some(root) if program.is_absolute() && !program.starts_with(root) => {
                root.join(program.strip_prefix("/").unwrap_or(program))
            }
            _ => program.to_path_buf(),
        };
        // Resolve symbolic links first so that a loop is reported as such.
        let canonical = std::fs::canonicalize(&main_host).map_err(|e| Error::io(program, e))?;
        let file = ElfFile::open(&main_host)?;
        let machine = file.machine;
        let platform = Platform::debian(machine);
        let mut ld = Loader {
            opts,
            platform,
            cache: None,
            machine,
            modules: Vec::new(),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            missing: Vec::new(),
        };
        let interp = file.interp.clone();
        // A statically linked executable (no PT_INTERP, and no PT_DYNAMIC, or a static PIE's
        // dynamic section without DT_NEEDED) runs without ld.so: nothing else is loaded and
        // LD_PRELOAD is never read.
        let statically_linked = interp.is_none()
            && file.dynamic.as_ref().is_none_or(|d| {
                d.needed.is_empty() && d.flags_1 & u64::from(crate::elf::consts::DF_1_PIE) != 0
            });
        let main_name = program.to_string_lossy().into_owned();
        let main_origin = if opts.sysroot.is_some() {
            Some(dirname(&main_name))
        } else {
            canonical.parent().map(|p| p.to_string_lossy().into_owned())
        };
        let main = ld.add(main_name, file, None, LoadReason::Executable, main_origin);

        // The interpreter is loaded by the kernel; it joins the search list only if needed.
        let interp_name = interp.unwrap_or_else(|| ld.platform.default_interp.clone());
        let interp_file = if statically_linked {
            Ok(None)
        } else {
            ld.open_candidate(&interp_name)
        };
        let interp_id = match interp_file {
            Ok(Some(f)) if !ld.by_id.contains_key(&f.file_id()) => {
                let origin = Some(dirname(&interp_name));
                let id = ld.add(
                    interp_name.clone(),
                    f,
                    None,
                    LoadReason::Interpreter,
                    origin,
                );
                Some(id)
            }
            _ => None,
        };

        // Preloads: LD_PRELOAD, then the preload file.
        let mut start = vec![main];
        // Each preload with where it came from (`LD_PRELOAD` or the preload file's path).
        let mut preload_names: Vec<(String, String)> = if statically_linked {
            Vec::new()
        } else {
            opts.preload
                .iter()
                .map(|n| (n.clone(), "LD_PRELOAD".to_string()))
                .collect()
        };
        if let (Some(file), false) = (&opts.preload_file, statically_linked) {
            if let Ok(text) = std::fs::read_to_string(ld.host_path(&file.to_string_lossy())) {
                let source = file.to_string_lossy().into_owned();
                preload_names.extend(
                    text.split([' ', '\t', '\n', ':'])
                        .filter(|s| !s.is_empty())
                        .map(|n| (n.to_string(), source.clone())),
                );
            }
        }
        for (name, source) in preload_names {
            if opts.secure && name.contains('/') {
                // Secure mode ignores preloads given with a path.
                continue;
            }
            match ld.map_object(&name, Some(main), LoadReason::Preload)? {
                Some(id) => {
                    if !start.contains(&id) {
                        start.push(id);
                    }
                }
                None => ld.missing.push(MissingFile {
                    name,
                    needed_by: source,
                    ignored: true,
                }),
            }
        }
        let global = ld.map_deps(start, LoadReason::Needed)?;
        for &id in &global {
            ld.modules[id].scope = vec![global.clone()];
        }
        let _ = interp_id;

        // Simulated dlopens.
        let mut dlopened = Vec::new();
        let mut global_now = global.clone();
        for (name, mode) in &opts.dlopen {
            let before = ld.modules.len();
            let Some(id) = ld.map_object(name, Some(main), LoadReason::Dlopen)? else {
                ld.missing.push(MissingFile {
                    name: name.clone(),
                    needed_by: "dlopen".into(),
                    ignored: true,
                });
                continue;
            };
            if id < before && global_now.contains(&id) {
                dlopened.push((id, *mode, vec![id]));
                continue;
            }
            let local = ld.map_deps(vec![id], LoadReason::Dlopen)?;
            for &m in &local {
                if m >= before {
                    ld.modules[m].scope = match mode {
                        DlopenMode::Deepbind => vec![local.clone(), global_now.clone()],
                        _ => vec![global_now.clone(), local.clone()],
                    };
                }
            }
            if *mode == DlopenMode::Global {
                for &m in &local {
                    if !global_now.contains(&m) {
                        global_now.push(m);
                    }
                }
            }
            dlopened.push((id, *mode, local));
        }

        // DT_SYMBOLIC puts the object itself first in its own scope (not with RTLD_DEEPBIND).
        for id in 0..ld.modules.len() {
            let m = &ld.modules[id];
            let symbolic = m.file.dynamic.as_ref().is_some_and(|d| d.symbolic);
            let deep = dlopened
                .iter()
                .any(|(_, mode, local)| *mode == DlopenMode::Deepbind && local.contains(&id));
            if symbolic && !m.is_executable() && !deep && !m.scope.is_empty() {
                ld.modules[id].scope.insert(0, vec![id]);
            }
        }

        let vdso = if opts.vdso && opts.sysroot.is_none() {
            vdso::load(machine).map(|file| {
                let name = file.soname().unwrap_or("linux-vdso.so.1").to_string();
                let id = ld.add(name, file, None, LoadReason::Vdso, None);
                ld.modules[id].scope = vec![vec![id]];
                id
            })
        } else {
            None
        };

        let mut process = Process {
            modules: ld.modules,
            global,
            dlopened,
            missing: ld.missing,
            missing_versions: Vec::new(),
            machine,
            platform: ld.platform,
            vdso,
            options: opts.clone(),
        };
        process.missing_versions = process.check_versions();
        Ok(process)
    }

    /// The load order: the global search list, then modules added by dlopen.
    pub fn load_order(&self) -> Vec<ModuleId> {
        let mut out = self.global.clone();
        for (_, _, local) in &self.dlopened {
            for &m in local {
                if !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// The executable.
    pub fn main(&self) -> &Module {
        &self.modules[0]
    }

    /// `_dl_check_map_versions` for every loaded module: required versions that the named
    /// file does not define (weak requirements and unversioned files excepted).
    fn check_versions(&self) -> Vec<MissingVersion> {
        let mut out = Vec::new();
        for id in self.load_order() {
            let m = &self.modules[id];
            for need in &m.file.verneeds {
                let Some(dep) = m.needed.iter().copied().find(|&d| {
                    let dm = &self.modules[d];
                    dm.name == need.file
                        || dm.names.iter().any(|n| n == &need.file)
                        || dm.file.soname() == Some(need.file.as_str())
                }) else {
                    continue;
                };
                let defs = &self.modules[dep].file.verdefs;
                if defs.is_empty() {
                    continue;
                }
                for v in &need.versions {
                    if v.flags & crate::elf::consts::VER_FLG_WEAK != 0 {
                        continue;
                    }
                    if !defs.iter().any(|d| d.hash == v.hash && d.name == v.name) {
                        out.push(MissingVersion {
                            version: v.name.clone(),
                            file: need.file.clone(),
                            required_by: m.name.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// True when the real loader would refuse to start the program.
    pub fn refuses_to_start(&self) -> bool {
        self.missing.iter().any(|m| !m.ignored) || !self.missing_versions.is_empty()
    }

    /// The module at `id`.
    pub fn module(&self, id: ModuleId) -> &Module {
        &self.modules[id]
    }
}
