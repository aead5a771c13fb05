//! Archives (`ar` format: `.a`, `.rlib`): the symbol index the linker searches, the ELF
//! members in archive order, and each member's bytes as a part of the archive's one mapping.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::read::archive::{ArchiveFile, ArchiveOffset};

use super::map::{Mapping, SharedBytes};

/// Why an archive could not be read: the parser's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArchiveError(pub String);

fn err(e: impl ToString) -> ArchiveError {
    ArchiveError(e.to_string())
}

/// One member located in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's name.
    pub name: String,
    /// The bytes of its contents in the archive.
    pub range: Range<usize>,
}

/// An archive, parsed once: its symbol index and its ELF members.
#[derive(Debug, Clone)]
pub struct Archive {
    path: PathBuf,
    map: Arc<Mapping>,
    /// `(symbol, member header offset)` in index order.
    pub index: Vec<(String, u64)>,
    /// ELF members in archive order: `(header offset, name)`.
    pub members: Vec<(u64, String)>,
}

impl Archive {
    /// True when `data` starts with the magic of a regular or a thin archive.
    pub fn is_archive(data: &[u8]) -> bool {
        data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n")
    }

    /// Parses the archive held in `map`, read from `path`. Thin archives are refused.
    pub fn parse(path: &Path, map: Arc<Mapping>) -> Result<Archive, ArchiveError> {
        let data = map.bytes();
        let archive = ArchiveFile::parse(data).map_err(err)?;
        if archive.is_thin() {
            return Err(ArchiveError("thin archives are not supported".into()));
        }
        let mut index = Vec::new();
        if let Some(symbols) = archive.symbols().map_err(err)? {
            for s in symbols {
                let s = s.map_err(err)?;
                index.push((String::from_utf8_lossy(s.name()).into_owned(), s.offset().0));
            }
        }
        let mut members = Vec::new();
        for m in archive.members() {
            let m = m.map_err(err)?;
            let Ok(bytes) = m.data(data) else { continue };
            if bytes.starts_with(&object::elf::ELFMAG) {
                let header_offset = m.file_range().0.saturating_sub(60);
                members.push((
                    header_offset,
                    String::from_utf8_lossy(m.name()).into_owned(),
                ));
            }
        }
        Ok(Archive {
            path: path.to_path_buf(),
            map,
            index,
            members,
        })
    }

    /// The path it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The member whose header starts at `offset`.
    pub fn member(&self, offset: u64) -> Result<Member, ArchiveError> {
        let archive = ArchiveFile::parse(self.map.bytes()).map_err(err)?;
        let m = archive.member(ArchiveOffset(offset)).map_err(err)?;
        let (start, size) = m.file_range();
        let start = usize::try_from(start).map_err(|_| ArchiveError("member offset".into()))?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .ok_or_else(|| ArchiveError("member size".into()))?;
        Ok(Member {
            name: String::from_utf8_lossy(m.name()).into_owned(),
            range: start..end,
        })
    }

    /// The bytes of `member`, sharing the archive's mapping.
    pub fn member_bytes(&self, member: &Member) -> Option<SharedBytes> {
        SharedBytes::part(self.map.clone(), member.range.clone())
    }
}
