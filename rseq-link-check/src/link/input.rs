//! Reading the link inputs: relocatable objects, archives (`.a`, `.rlib`) through their symbol
//! index, shared libraries through `.dynsym`, and the small linker scripts that stand in for
//! some `.so` files (`libc.so` is `GROUP ( libc.so.6 libc_nonshared.a AS_NEEDED ( ld.so ) )`).
//!
//! Everything is read through [`crate::elf`], each file mapped once (an archive's members
//! are parts of the archive's mapping); nothing here panics on a malformed file: a bad
//! input is a [`LinkError::BadInput`] naming the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::LinkError;
use crate::elf::consts as elf;
use crate::elf::{Archive, ElfFile, Mapping, SharedBytes};
use crate::error::Error;

use crate::elf::SymbolKind;
pub use crate::elf::{SymbolBinding as Binding, Visibility};

/// The binding the static linkers act on: an unknown (OS- or processor-specific) binding
/// counts as global.
fn link_binding(st_bind: u8) -> Binding {
    match Binding::from_st_bind(st_bind) {
        Binding::Other(_) => Binding::Global,
        b => b,
    }
}

/// Symbol type (`STT_*`), in the classes static resolution distinguishes: an indirect
/// function is a function, and the types no definition can have are `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SymType {
    /// `STT_NOTYPE`.
    NoType,
    /// `STT_OBJECT`.
    Object,
    /// `STT_FUNC` or `STT_GNU_IFUNC`.
    Func,
    /// `STT_TLS`.
    Tls,
    /// `STT_COMMON` or anything else.
    Other,
}

impl From<SymbolKind> for SymType {
    fn from(kind: SymbolKind) -> SymType {
        match kind {
            SymbolKind::NoType => SymType::NoType,
            SymbolKind::Object => SymType::Object,
            SymbolKind::Func | SymbolKind::Ifunc => SymType::Func,
            SymbolKind::Tls => SymType::Tls,
            _ => SymType::Other,
        }
    }
}

impl SymType {
    /// The name used in reports (`tls`, `object`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SymType::NoType => "notype",
            SymType::Object => "object",
            SymType::Func => "func",
            SymType::Tls => "tls",
            SymType::Other => "other",
        }
    }
}

/// A global symbol of a relocatable object: a definition or a reference.
#[derive(Debug, Clone)]
pub struct ObjSymbol {
    /// Symbol name.
    pub name: String,
    /// True for a definition (including a common symbol).
    pub defined: bool,
    /// True for a common symbol (`SHN_COMMON`).
    pub common: bool,
    /// Binding.
    pub binding: Binding,
    /// Type.
    pub kind: SymType,
    /// `st_size`.
    pub size: u64,
    /// Visibility.
    pub visibility: Visibility,
    /// Defining section (index in the object), for definitions in a section.
    pub section: Option<usize>,
    /// Name of the defining section.
    pub section_name: Option<String>,
}

/// A relocatable object on the line or extracted from an archive.
#[derive(Debug, Clone)]
pub struct ObjectInput {
    /// How the linker names it: `path` or `archive(member)`.
    pub origin: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Global and weak symbols.
    pub symbols: Vec<ObjSymbol>,
    file: Arc<ElfFile<SharedBytes>>,
}

/// What a section of an object keeps alive, for `--gc-sections`.
#[derive(Debug, Clone, Default)]
pub struct SectionGraph {
    /// Section names by index.
    pub names: Vec<String>,
    /// Whether the section is `SHF_ALLOC`.
    pub alloc: Vec<bool>,
    /// Section type (`sh_type`).
    pub sh_type: Vec<u32>,
    /// Whether the section is `SHF_GNU_RETAIN`.
    pub retain: Vec<bool>,
    /// Per section: the sections of this object and the global symbols its relocations name.
    pub edges: Vec<Vec<RelocTarget>>,
}

/// The target of a relocation, as far as reachability cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelocTarget {
    /// A section of the same object (a local or section symbol).
    Section(usize),
    /// A global symbol, resolved through the link's symbol table.
    Global(String),
}

impl ObjectInput {
    /// Parses the object held in `bytes` (a whole file, or an archive member).
    pub fn parse(
        origin: String,
        path: &Path,
        bytes: SharedBytes,
    ) -> Result<ObjectInput, LinkError> {
        let file = ElfFile::parse(path, bytes).map_err(|e| {
            bad(
                path,
                &format!("{origin}: not a 64-bit ELF object: {}", reason(e)),
            )
        })?;
        if file.e_type != elf::ET_REL {
            return Err(bad(path, &format!("{origin}: not a relocatable object")));
        }
        let mut symbols = Vec::new();
        for sym in file.all_static_symbols() {
            let bind = sym.st_bind();
            if bind == elf::STB_LOCAL {
                continue;
            }
            let Ok(name) = std::str::from_utf8(sym.name) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let section = sym.section_index();
            let section_name = section
                .and_then(|i| file.section(i))
                .and_then(|s| s.name.clone());
            symbols.push(ObjSymbol {
                name: name.to_string(),
                defined: !sym.is_undefined(),
                common: sym.is_common(),
                binding: link_binding(bind),
                kind: SymType::from(sym.kind()),
                size: sym.size,
                visibility: sym.visibility(),
                section,
                section_name,
            });
        }
        Ok(ObjectInput {
            origin,
            path: path.to_path_buf(),
            symbols,
            file: Arc::new(file),
        })
    }

    /// Builds the section reference graph (only `--gc-sections` needs it).
    pub fn section_graph(&self) -> Result<SectionGraph, LinkError> {
        let file = &self.file;
        let count = file.sections().len();
        let mut g = SectionGraph {
            names: vec![String::new(); count],
            alloc: vec![false; count],
            sh_type: vec![0; count],
            retain: vec![false; count],
            edges: vec![Vec::new(); count],
        };
        // Symbol index -> target.
        let mut targets: HashMap<u32, RelocTarget> = HashMap::new();
        for sym in file.all_static_symbols() {
            let t = if sym.st_bind() == elf::STB_LOCAL {
                match sym.section_index() {
                    Some(s) => RelocTarget::Section(s),
                    None => continue,
                }
            } else {
                match std::str::from_utf8(sym.name) {
                    Ok(n) => RelocTarget::Global(n.to_string()),
                    Err(_) => continue,
                }
            };
            targets.insert(sym.index, t);
        }
        for section in file.sections() {
            let idx = section.index;
            g.names[idx] = section.name_or_empty().to_string();
            g.alloc[idx] = section.is_alloc();
            g.retain[idx] = section.is_retain();
            g.sh_type[idx] = section.sh_type;
            let mut edges = Vec::new();
            let relocations = file
                .section_relocations(idx)
                .map_err(|e| bad(&self.path, &format!("{}: {}", self.origin, reason(e))))?;
            for reloc in relocations {
                if reloc.r_sym == 0 {
                    continue;
                }
                if let Some(t) = targets.get(&reloc.r_sym) {
                    if !edges.contains(t) {
                        edges.push(t.clone());
                    }
                }
            }
            g.edges[idx] = edges;
        }
        // A section's relocations live in a separate SHT_RELA section whose sh_info names the
        // section; `ElfFile::section_relocations` attributes them to the target section.
        Ok(g)
    }
}

/// A definition exported by a shared library.
#[derive(Debug, Clone)]
pub struct DynSymbol {
    /// Binding.
    pub binding: Binding,
    /// Type.
    pub kind: SymType,
    /// `st_size`.
    pub size: u64,
    /// Visibility.
    pub visibility: Visibility,
    /// Version name, if versioned.
    pub version: Option<String>,
}

/// A shared library on the line.
#[derive(Debug, Clone)]
pub struct SharedInput {
    /// The path it was found at.
    pub path: PathBuf,
    /// `DT_SONAME`, if any.
    pub soname: Option<String>,
    /// Default-version (or unversioned) definitions.
    pub defs: HashMap<String, DynSymbol>,
    /// Undefined references (names).
    pub undefs: Vec<String>,
    /// The non-weak ones among [`SharedInput::undefs`]: an executable link fails when nothing
    /// defines them (`--no-allow-shlib-undefined`, both linkers' default for executables).
    pub strong_undefs: Vec<String>,
}

impl SharedInput {
    /// Parses a shared library's dynamic symbols from `data`, the contents of `path`.
    pub fn parse(path: &Path, data: &[u8]) -> Result<SharedInput, LinkError> {
        let file = ElfFile::parse(path, data).map_err(|e| {
            bad(
                path,
                &format!("not a 64-bit ELF shared library: {}", reason(e)),
            )
        })?;
        Self::from_elf(&file)
    }

    /// Reads a parsed shared library's dynamic symbols.
    pub fn from_elf<D: AsRef<[u8]>>(file: &ElfFile<D>) -> Result<SharedInput, LinkError> {
        let path = file.path();
        if file.e_type != elf::ET_DYN {
            return Err(bad(path, "not a shared library (e_type is not ET_DYN)"));
        }
        let mut defs = HashMap::new();
        let mut undefs = Vec::new();
        let mut strong_undefs = Vec::new();
        for sym in file.dynamic_symbols() {
            if sym.st_bind() == elf::STB_LOCAL {
                continue;
            }
            if sym.name.is_empty() {
                continue;
            }
            let name = sym.name_str();
            if sym.is_undefined() {
                if sym.st_bind() != elf::STB_WEAK {
                    strong_undefs.push(name.clone());
                }
                undefs.push(name);
                continue;
            }
            if sym.versym.is_some_and(|v| v & 0x8000 != 0) {
                // A non-default version never satisfies an unversioned reference at static
                // link time.
                continue;
            }
            let version = file.symbol_version_name(sym.index).map(str::to_owned);
            defs.insert(
                name,
                DynSymbol {
                    binding: link_binding(sym.st_bind()),
                    kind: SymType::from(sym.kind()),
                    size: sym.size,
                    visibility: sym.visibility(),
                    version,
                },
            );
        }
        Ok(SharedInput {
            path: path.to_path_buf(),
            soname: file.soname().map(str::to_owned),
            defs,
            undefs,
            strong_undefs,
        })
    }
}

/// An archive (`.a`, `.rlib`) and its symbol index.
#[derive(Debug, Clone)]
pub struct ArchiveInput {
    /// The path it was found at.
    pub path: PathBuf,
    /// The archive: its symbol index (`(symbol, member offset)` in index order) and its ELF
    /// members in archive order (`(offset, name)`).
    pub archive: Archive,
}

impl ArchiveInput {
    /// Parses an archive's symbol index and member list.
    pub fn parse(path: &Path, map: Arc<Mapping>) -> Result<ArchiveInput, LinkError> {
        let archive = Archive::parse(path, map).map_err(|e| bad(path, &e.to_string()))?;
        Ok(ArchiveInput {
            path: path.to_path_buf(),
            archive,
        })
    }

    /// Loads the member whose header starts at `offset`.
    pub fn load_member(&self, offset: u64) -> Result<ObjectInput, LinkError> {
        let m = self
            .archive
            .member(offset)
            .map_err(|e| bad(&self.path, &e.to_string()))?;
        let bytes = self
            .archive
            .member_bytes(&m)
            .ok_or_else(|| bad(&self.path, "member out of range"))?;
        ObjectInput::parse(
            format!("{}({})", self.path.display(), m.name),
            &self.path,
            bytes,
        )
    }
}

/// One entry of a linker script's `GROUP`/`INPUT` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEntry {
    /// The file, or `-lNAME`.
    pub name: String,
    /// Inside `AS_NEEDED ( ... )`.
    pub as_needed: bool,
}

/// Parses the `GROUP`/`INPUT` statements of an implicit linker script (such as `libc.so`).
pub fn parse_linker_script(path: &Path, text: &str) -> Result<(Vec<ScriptEntry>, bool), LinkError> {
    let mut cleaned = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        cleaned.push_str(&rest[..start]);
        match rest[start..].find("*/") {
            Some(end) => rest = &rest[start + end + 2..],
            None => return Err(bad(path, "unterminated comment in linker script")),
        }
    }
    cleaned.push_str(rest);
    let spaced = cleaned
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace(',', " ");
    let toks: Vec<&str> = spaced.split_whitespace().collect();
    let mut entries = Vec::new();
    let mut group = false;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if (t == "GROUP" || t == "INPUT") && toks.get(i + 1) == Some(&"(") {
            group |= t == "GROUP";
            i += 2;
            let mut as_needed = false;
            while i < toks.len() && toks[i] != ")" || as_needed {
                match toks.get(i) {
                    Some(&"AS_NEEDED") => {
                        as_needed = true;
                        i += 1; // skip "("
                    }
                    Some(&")") => as_needed = false,
                    Some(n) => entries.push(ScriptEntry {
                        name: n.to_string(),
                        as_needed,
                    }),
                    None => return Err(bad(path, "unterminated GROUP in linker script")),
                }
                i += 1;
            }
        } else if t.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            && toks.get(i + 1) == Some(&"(")
        {
            // OUTPUT_FORMAT ( ... ) and the like: skip the parenthesised list.
            let mut depth = 0i32;
            i += 1;
            let mut steps = 0usize;
            while i < toks.len() && steps <= toks.len() {
                steps += 1;
                match toks[i] {
                    "(" => depth += 1,
                    ")" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        } else if !t.is_empty() && t != ";" {
            return Err(bad(
                path,
                &format!("unsupported linker script statement `{t}`"),
            ));
        }
        i += 1;
    }
    Ok((entries, group))
}

/// What a file on the line turned out to be.
#[derive(Debug, Clone)]
pub enum InputFile {
    /// A relocatable object.
    Object(ObjectInput),
    /// An archive.
    Archive(ArchiveInput),
    /// A shared library.
    Shared(SharedInput),
    /// An implicit linker script: its entries, and whether it was a `GROUP`.
    Script(Vec<ScriptEntry>, bool),
}

/// Reads a file named on the line and classifies it by content.
pub fn read_input(path: &Path) -> Result<InputFile, LinkError> {
    let map = Arc::new(Mapping::open(path).map_err(|e| match e {
        Error::Io { source, .. } => LinkError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => bad(path, &reason(other)),
    })?);
    let data = map.bytes();
    if Archive::is_archive(data) {
        return ArchiveInput::parse(path, map).map(InputFile::Archive);
    }
    if data.starts_with(&elf::ELFMAG) {
        let e_type = data.get(16..18).map(|b| u16::from_le_bytes([b[0], b[1]]));
        return match e_type {
            Some(t) if t == elf::ET_DYN => SharedInput::parse(path, data).map(InputFile::Shared),
            _ => ObjectInput::parse(path.display().to_string(), path, SharedBytes::whole(map))
                .map(InputFile::Object),
        };
    }
    match std::str::from_utf8(data) {
        Ok(text) => parse_linker_script(path, text).map(|(e, g)| InputFile::Script(e, g)),
        Err(_) => Err(bad(path, "not an ELF file, archive or linker script")),
    }
}

/// What is wrong with a file, without the path the link error names already.
fn reason(e: Error) -> String {
    match e {
        Error::Malformed { what, .. } | Error::Unsupported { what, .. } => what,
        Error::Io { source, .. } => source.to_string(),
        Error::NotElf { .. } => "not an ELF file".to_string(),
        other => other.to_string(),
    }
}

fn bad(path: &Path, what: &str) -> LinkError {
    LinkError::BadInput {
        path: path.to_path_buf(),
        message: what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_so_script() {
        let (e, group) = parse_linker_script(
            Path::new("libc.so"),
            "/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\nGROUP ( /lib/x86_64-linux-gnu/libc.so.6 /usr/lib/x86_64-linux-gnu/libc_nonshared.a  AS_NEEDED ( /lib64/ld-linux-x86-64.so.2 ) )\n",
        )
        .unwrap();
        assert!(group);
        assert_eq!(e.len(), 3);
        assert!(!e[0].as_needed && !e[1].as_needed && e[2].as_needed);
        assert_eq!(e[2].name, "/lib64/ld-linux-x86-64.so.2");
    }

    #[test]
    fn garbage_is_a_bad_input_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("rseq-link-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in [
            ("trunc.o", &b"\x7fELF\x02\x01\x01"[..]),
            ("trunc.a", &b"!<arch>\nfoo"[..]),
            ("bin", &[0xffu8, 0xfe, 0][..]),
        ] {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            assert!(read_input(&p).is_err(), "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
