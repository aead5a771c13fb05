//! Where the critical sections of a running program are: the ELF files mapped executable
//! in `/proc/PID/maps`, each file's sections at its link-time addresses (through the
//! verifier's descriptor discovery and decoder), and the load bias that relocates them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::elf::ElfFile;
use crate::error::{Error, Result};
use crate::verify::{analyse, map_file, Image};

/// One critical section of an ELF file, at its link-time addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// `start_ip`.
    pub start: u64,
    /// `start_ip + post_commit_offset`.
    pub post_commit: u64,
    /// `abort_ip`.
    pub abort: u64,
    /// Declared exits of the section.
    pub exits: Vec<u64>,
    /// Instruction boundaries in `[start, post_commit)`.
    pub boundaries: Vec<u64>,
    /// The function that contains it (demangled), when the symbol table says.
    pub function: Option<String>,
}

/// Reads the critical sections of the ELF file at `path`: every descriptor the verifier
/// finds, with the instruction boundaries of its `[start_ip, post_commit_ip)`. A section
/// whose bounds wrap or whose bytes do not decode to its end is left out.
pub fn sections_of(path: &Path) -> Result<Vec<Section>> {
    let map = map_file(path)?;
    let image = Image::parse(path, map.bytes())?;
    if !image.has_rseq_sections() {
        return Ok(Vec::new());
    }
    let analysis = analyse(&image, &path.display().to_string());
    let mut out = Vec::new();
    for (report, decoded) in analysis.report.sections.iter().zip(&analysis.decoded) {
        let Some(post) = report.post_commit_ip else {
            continue;
        };
        if decoded.insns.last().map(|i| i.end()) != Some(post) {
            continue;
        }
        out.push(Section {
            start: report.descriptor.start_ip,
            post_commit: post,
            abort: report.descriptor.abort_ip,
            exits: report.exits.clone(),
            boundaries: decoded.insns.iter().map(|i| i.addr).collect(),
            function: report.function.clone(),
        });
    }
    Ok(out)
}

/// The value of the symbol `name` in the ELF file at `path` (its static symbol table,
/// else its dynamic one), if it defines it.
pub fn symbol_value(path: &Path, name: &str) -> Result<Option<u64>> {
    let file = ElfFile::open(path)?;
    let found = file
        .static_symbols(name.as_bytes())
        .chain(file.dynamic_symbols().filter(|s| s.name == name.as_bytes()))
        .find(|s| s.shndx != 0)
        .map(|s| s.value);
    Ok(found)
}

/// The program interpreter of the executable at `path` (`PT_INTERP`), if it names one.
pub fn interpreter(path: &Path) -> Result<Option<String>> {
    Ok(ElfFile::open(path)?.interp)
}

/// The bias to add to the link-time addresses of the ELF file at `path` mapped with its
/// file offset 0 at `base`.
pub fn load_bias(path: &Path, base: u64) -> Result<u64> {
    let file = ElfFile::open(path)?;
    let first = file
        .first_load_vaddr
        .ok_or_else(|| Error::malformed(path, "no PT_LOAD segment"))?;
    Ok(base.wrapping_sub(first & !0xfff))
}

/// A file mapped in a process: its path and where its file offset 0 is mapped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mapped {
    /// The file.
    pub path: PathBuf,
    /// The address of its mapping of file offset 0.
    pub base: u64,
}

/// The files with an executable mapping in process `pid`, from `/proc/PID/maps`.
pub fn mapped_files(pid: i32) -> std::io::Result<BTreeSet<Mapped>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(parse_maps(&maps))
}

/// Parses the text of `/proc/PID/maps` (see `proc(5)`): for each file that has an
/// executable mapping, the start of its mapping of offset 0.
pub fn parse_maps(maps: &str) -> BTreeSet<Mapped> {
    struct Row<'a> {
        start: u64,
        exec: bool,
        offset_zero: bool,
        path: &'a str,
    }
    let rows: Vec<Row<'_>> = maps
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let offset = fields.next()?;
            let _dev = fields.next()?;
            let _inode = fields.next()?;
            let path = fields.next()?;
            if !path.starts_with('/') {
                return None;
            }
            let start = u64::from_str_radix(range.split('-').next()?, 16).ok()?;
            Some(Row {
                start,
                exec: perms.contains('x'),
                offset_zero: u64::from_str_radix(offset, 16).ok()? == 0,
                path,
            })
        })
        .collect();
    let executable: BTreeSet<&str> = rows.iter().filter(|r| r.exec).map(|r| r.path).collect();
    let mut out = BTreeSet::new();
    for path in executable {
        if let Some(base) = rows
            .iter()
            .filter(|r| r.path == path && r.offset_zero)
            .map(|r| r.start)
            .min()
        {
            out.insert(Mapped {
                path: PathBuf::from(path),
                base,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_keep_files_with_an_executable_mapping() {
        let maps = "\
5555a000-5555b000 r--p 00000000 08:01 12 /usr/bin/prog
5555b000-5555c000 r-xp 00001000 08:01 12 /usr/bin/prog
7f00000000-7f00001000 r--p 00000000 08:01 13 /usr/lib/libdata.so
7f10000000-7f10001000 r--p 00000000 08:01 14 /usr/lib/libc.so.6
7f10001000-7f10002000 r-xp 00001000 08:01 14 /usr/lib/libc.so.6
7ffd0000-7ffd1000 r-xp 00000000 00:00 0 [vdso]
";
        let got: Vec<(String, u64)> = parse_maps(maps)
            .into_iter()
            .map(|m| (m.path.display().to_string(), m.base))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/usr/bin/prog".to_string(), 0x5555a000),
                ("/usr/lib/libc.so.6".to_string(), 0x7f10000000),
            ]
        );
    }
}
