//! Reading the link inputs: relocatable objects, archives (`.a`, `.rlib`) through their symbol
//! index, shared libraries through `.dynsym`, and the small linker scripts that stand in for
//! some `.so` files (`libc.so` is `GROUP ( libc.so.6 libc_nonshared.a AS_NEEDED ( ld.so ) )`).
//!
//! Everything is read with the `object` crate; nothing here panics on a malformed file: a bad
//! input is a [`LinkError::BadInput`] naming the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::elf;
use object::read::archive::ArchiveFile;
use object::read::elf::{ElfFile64, FileHeader, Sym};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, RelocationTarget};

use super::LinkError;

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
    fn from_st_type(t: u8) -> SymType {
        SymbolKind::from_st_type(t).into()
    }

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
    data: Arc<[u8]>,
    range: (usize, usize),
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
    /// Parses an object from `data[range]`.
    pub fn parse(
        origin: String,
        path: &Path,
        data: Arc<[u8]>,
        range: (usize, usize),
    ) -> Result<ObjectInput, LinkError> {
        let bytes = data
            .get(range.0..range.1)
            .ok_or_else(|| bad(path, "member out of range"))?;
        let file = ElfFile64::<Endianness>::parse(bytes)
            .map_err(|e| bad(path, &format!("{origin}: not a 64-bit ELF object: {e}")))?;
        if file.elf_header().e_type(file.endian()) != elf::ET_REL {
            return Err(bad(path, &format!("{origin}: not a relocatable object")));
        }
        let mut symbols = Vec::new();
        for sym in file.symbols() {
            let raw = sym.elf_symbol();
            let bind = raw.st_bind();
            if bind == elf::STB_LOCAL {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            if name.is_empty() {
                continue;
            }
            let section = sym.section_index().map(|i| i.0);
            let section_name = section
                .and_then(|i| file.section_by_index(object::SectionIndex(i)).ok())
                .and_then(|s| s.name().ok().map(str::to_string));
            symbols.push(ObjSymbol {
                name: name.to_string(),
                defined: !sym.is_undefined(),
                common: sym.is_common(),
                binding: link_binding(bind),
                kind: SymType::from_st_type(raw.st_type()),
                size: sym.size(),
                visibility: Visibility::from_st_other(raw.st_other()),
                section,
                section_name,
            });
        }
        Ok(ObjectInput {
            origin,
            path: path.to_path_buf(),
            symbols,
            data,
            range,
        })
    }

    /// Builds the section reference graph (parsed on demand: only `--gc-sections` needs it).
    pub fn section_graph(&self) -> Result<SectionGraph, LinkError> {
        let bytes = self
            .data
            .get(self.range.0..self.range.1)
            .ok_or_else(|| bad(&self.path, "member out of range"))?;
        let file = ElfFile64::<Endianness>::parse(bytes)
            .map_err(|e| bad(&self.path, &format!("{}: {e}", self.origin)))?;
        let endian = file.endian();
        let count = file.elf_section_table().len();
        let mut g = SectionGraph {
            names: vec![String::new(); count],
            alloc: vec![false; count],
            sh_type: vec![0; count],
            retain: vec![false; count],
            edges: vec![Vec::new(); count],
        };
        // Symbol index -> target.
        let mut targets: HashMap<usize, RelocTarget> = HashMap::new();
        for sym in file.symbols() {
            let raw = sym.elf_symbol();
            let t = if raw.st_bind() == elf::STB_LOCAL {
                match sym.section_index() {
                    Some(s) => RelocTarget::Section(s.0),
                    None => continue,
                }
            } else {
                match sym.name() {
                    Ok(n) => RelocTarget::Global(n.to_string()),
                    Err(_) => continue,
                }
            };
            targets.insert(sym.index().0, t);
        }
        for section in file.sections() {
            let idx = section.index().0;
            let Some(slot) = g.names.get_mut(idx) else {
                continue;
            };
            *slot = section.name().unwrap_or("").to_string();
            let hdr = section.elf_section_header();
            let flags = hdr.sh_flags.get(endian);
            g.alloc[idx] = flags & u64::from(elf::SHF_ALLOC) != 0;
            g.retain[idx] = flags & u64::from(elf::SHF_GNU_RETAIN) != 0;
            g.sh_type[idx] = hdr.sh_type.get(endian);
            let mut edges = Vec::new();
            for (_, reloc) in section.relocations() {
                if let RelocationTarget::Symbol(si) = reloc.target() {
                    if let Some(t) = targets.get(&si.0) {
                        if !edges.contains(t) {
                            edges.push(t.clone());
                        }
                    }
                }
            }
            g.edges[idx] = edges;
        }
        // A section's relocations live in a separate SHT_RELA section whose sh_info names the
        // section; `object` already attributes them to the target section above.
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
}

impl SharedInput {
    /// Parses a shared library's dynamic symbols.
    pub fn parse(path: &Path, data: &[u8]) -> Result<SharedInput, LinkError> {
        let header = elf::FileHeader64::<Endianness>::parse(data)
            .map_err(|e| bad(path, &format!("not a 64-bit ELF shared library: {e}")))?;
        let endian = header.endian().map_err(|e| bad(path, &e.to_string()))?;
        if header.e_type(endian) != elf::ET_DYN {
            return Err(bad(path, "not a shared library (e_type is not ET_DYN)"));
        }
        let sections = header
            .sections(endian, data)
            .map_err(|e| bad(path, &e.to_string()))?;
        let dynsym = sections
            .symbols(endian, data, elf::SHT_DYNSYM)
            .map_err(|e| bad(path, &e.to_string()))?;
        let versions = sections
            .versions(endian, data)
            .map_err(|e| bad(path, &e.to_string()))?;
        let mut soname = None;
        if let Some((dynamic, link)) = sections
            .dynamic(endian, data)
            .map_err(|e| bad(path, &e.to_string()))?
        {
            let strings = sections
                .strings(endian, data, link)
                .map_err(|e| bad(path, &e.to_string()))?;
            for d in dynamic {
                if d.d_tag.get(endian) == u64::from(elf::DT_SONAME) {
                    let off = d.d_val.get(endian);
                    soname = u32::try_from(off)
                        .ok()
                        .and_then(|o| strings.get(o).ok())
                        .map(|s| String::from_utf8_lossy(s).into_owned());
                }
            }
        }
        let mut defs = HashMap::new();
        let mut undefs = Vec::new();
        for (i, sym) in dynsym.iter().enumerate() {
            if sym.st_bind() == elf::STB_LOCAL {
                continue;
            }
            let Ok(name) = sym.name(endian, dynsym.strings()) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let name = String::from_utf8_lossy(name).into_owned();
            if sym.is_undefined(endian) {
                undefs.push(name);
                continue;
            }
            let mut version = None;
            if let Some(v) = &versions {
                let vi = v.version_index(endian, object::SymbolIndex(i));
                if vi.is_hidden() {
                    // A non-default version never satisfies an unversioned reference at
                    // static link time.
                    continue;
                }
                version = v
                    .version(vi)
                    .ok()
                    .flatten()
                    .map(|v| String::from_utf8_lossy(v.name()).into_owned());
            }
            defs.insert(
                name,
                DynSymbol {
                    binding: link_binding(sym.st_bind()),
                    kind: SymType::from_st_type(sym.st_type()),
                    size: sym.st_size(endian),
                    visibility: Visibility::from_st_other(sym.st_other()),
                    version,
                },
            );
        }
        Ok(SharedInput {
            path: path.to_path_buf(),
            soname,
            defs,
            undefs,
        })
    }
}

/// An archive (`.a`, `.rlib`) and its symbol index.
#[derive(Debug, Clone)]
pub struct ArchiveInput {
    /// The path it was found at.
    pub path: PathBuf,
    /// `(symbol, member offset)` in index order.
    pub index: Vec<(String, u64)>,
    /// ELF members in archive order: `(offset, name)`.
    pub members: Vec<(u64, String)>,
    data: Arc<[u8]>,
}

impl ArchiveInput {
    /// Parses an archive's symbol index and member list.
    pub fn parse(path: &Path, data: Arc<[u8]>) -> Result<ArchiveInput, LinkError> {
        let archive = ArchiveFile::parse(&*data).map_err(|e| bad(path, &format!("{e}")))?;
        if archive.is_thin() {
            return Err(bad(path, "thin archives are not supported"));
        }
        let mut index = Vec::new();
        if let Some(symbols) = archive.symbols().map_err(|e| bad(path, &e.to_string()))? {
            for s in symbols {
                let s = s.map_err(|e| bad(path, &e.to_string()))?;
                index.push((String::from_utf8_lossy(s.name()).into_owned(), s.offset().0));
            }
        }
        let mut members = Vec::new();
        for m in archive.members() {
            let m = m.map_err(|e| bad(path, &e.to_string()))?;
            let Ok(bytes) = m.data(&*data) else { continue };
            if bytes.starts_with(&elf::ELFMAG) {
                let header_offset = m.file_range().0.saturating_sub(60);
                members.push((
                    header_offset,
                    String::from_utf8_lossy(m.name()).into_owned(),
                ));
            }
        }
        Ok(ArchiveInput {
            path: path.to_path_buf(),
            index,
            members,
            data,
        })
    }

    /// Loads the member whose header starts at `offset`.
    pub fn load_member(&self, offset: u64) -> Result<ObjectInput, LinkError> {
        let archive =
            ArchiveFile::parse(&*self.data).map_err(|e| bad(&self.path, &e.to_string()))?;
        let m = archive
            .member(object::read::archive::ArchiveOffset(offset))
            .map_err(|e| bad(&self.path, &e.to_string()))?;
        let (start, size) = m.file_range();
        let start = usize::try_from(start).map_err(|_| bad(&self.path, "member offset"))?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .ok_or_else(|| bad(&self.path, "member size"))?;
        let name = String::from_utf8_lossy(m.name()).into_owned();
        ObjectInput::parse(
            format!("{}({})", self.path.display(), name),
            &self.path,
            self.data.clone(),
            (start, end),
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
    let data: Arc<[u8]> = std::fs::read(path)
        .map_err(|e| LinkError::Io {
            path: path.to_path_buf(),
            source: e,
        })?
        .into();
    if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
        return ArchiveInput::parse(path, data).map(InputFile::Archive);
    }
    if data.starts_with(&elf::ELFMAG) {
        let e_type = data.get(16..18).map(|b| u16::from_le_bytes([b[0], b[1]]));
        return match e_type {
            Some(t) if t == elf::ET_DYN => SharedInput::parse(path, &data).map(InputFile::Shared),
            _ => {
                let len = data.len();
                ObjectInput::parse(path.display().to_string(), path, data, (0, len))
                    .map(InputFile::Object)
            }
        };
    }
    match std::str::from_utf8(&data) {
        Ok(text) => parse_linker_script(path, text).map(|(e, g)| InputFile::Script(e, g)),
        Err(_) => Err(bad(path, "not an ELF file, archive or linker script")),
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
