//! Symbol versions: the `SHT_GNU_verdef` and `SHT_GNU_verneed` lists, and the per-index table
//! glibc's `_dl_check_map_versions` builds (`l_versions`).

use object::read::elf::{VerdefIterator, VerneedIterator};
use object::read::StringTable;
use object::Endianness;

type Header = object::elf::FileHeader64<Endianness>;

/// One entry of `l_versions`: what a `versym` index stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEntry {
    /// The version name (`GLIBC_2.35`).
    pub name: String,
    /// `vd_hash` / `vna_hash` (0 for an unused index, as in glibc).
    pub hash: u32,
    /// `vna_other & 0x8000` for needed versions.
    pub hidden: bool,
    /// For a needed version, the file it is needed from (`vn_file`).
    pub filename: Option<String>,
}

/// A version definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionDef {
    /// `vd_ndx`.
    pub ndx: u16,
    /// `vd_flags`.
    pub flags: u16,
    /// `vd_hash`.
    pub hash: u32,
    /// The first `vda_name`.
    pub name: String,
}

/// A version needed from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeeded {
    /// The version name.
    pub name: String,
    /// `vna_hash`.
    pub hash: u32,
    /// `vna_flags` (`VER_FLG_WEAK`).
    pub flags: u16,
    /// `vna_other`: the versym index it is referred to by.
    pub other: u16,
}

/// A `Verneed` entry: one file and the versions needed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeed {
    /// `vn_file`.
    pub file: String,
    /// The needed versions.
    pub versions: Vec<VersionNeeded>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn parse_verdefs(
    e: Endianness,
    mut iter: VerdefIterator<'_, Header>,
    strings: StringTable<'_>,
) -> object::read::Result<Vec<VersionDef>> {
    let mut out = Vec::new();
    while let Some((def, mut aux)) = iter.next()? {
        let name = match aux.next()? {
            Some(a) => text(a.name(e, strings)?),
            None => String::new(),
        };
        out.push(VersionDef {
            ndx: def.vd_ndx.get(e),
            flags: def.vd_flags.get(e),
            hash: def.vd_hash.get(e),
            name,
        });
    }
    Ok(out)
}

pub(super) fn parse_verneeds(
    e: Endianness,
    mut iter: VerneedIterator<'_, Header>,
    strings: StringTable<'_>,
) -> object::read::Result<Vec<VersionNeed>> {
    let mut out = Vec::new();
    while let Some((need, mut auxs)) = iter.next()? {
        let mut versions = Vec::new();
        while let Some(a) = auxs.next()? {
            versions.push(VersionNeeded {
                name: text(a.name(e, strings)?),
                hash: a.vna_hash.get(e),
                flags: a.vna_flags.get(e),
                other: a.vna_other.get(e),
            });
        }
        out.push(VersionNeed {
            file: text(need.file(e, strings)?),
            versions,
        });
    }
    Ok(out)
}

/// Builds `l_versions` as `_dl_check_map_versions` does: needed versions at `vna_other`,
/// defined versions (except the base entry) at `vd_ndx`.
pub(super) fn build_table(defs: &[VersionDef], needs: &[VersionNeed]) -> Vec<VersionEntry> {
    let max = defs
        .iter()
        .map(|d| d.ndx & 0x7fff)
        .chain(
            needs
                .iter()
                .flat_map(|n| n.versions.iter().map(|v| v.other & 0x7fff)),
        )
        .max()
        .unwrap_or(0);
    let mut table = vec![VersionEntry::default(); usize::from(max) + 1];
    for n in needs {
        for v in &n.versions {
            let slot = &mut table[usize::from(v.other & 0x7fff)];
            *slot = VersionEntry {
                name: v.name.clone(),
                hash: v.hash,
                hidden: v.other & 0x8000 != 0,
                filename: Some(n.file.clone()),
            };
        }
    }
    for d in defs {
        if d.flags & object::elf::VER_FLG_BASE != 0 {
            continue;
        }
        let slot = &mut table[usize::from(d.ndx & 0x7fff)];
        slot.name = d.name.clone();
        slot.hash = d.hash;
        slot.filename = None;
    }
    table
}
