//! Read-only mapping of a file (memmap2). The only `unsafe` of the ELF layer lives here.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A read-only private mapping of a whole file, with the file's identity.
#[derive(Debug)]
pub struct Mapping {
    map: Option<memmap2::Mmap>,
    owned: Vec<u8>,
    dev: u64,
    ino: u64,
}

impl Mapping {
    /// Opens and maps `path`. An empty file maps to an empty byte slice.
    pub fn open(path: &Path) -> Result<Mapping> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("not a regular file"),
            });
        }
        let map = if meta.len() == 0 {
            None
        } else {
            // SAFETY: the mapping is private and read-only. The analysed files are programs
            // and libraries that are not expected to change while they are read; if one is
            // truncated concurrently, reading past its new end raises SIGBUS, the accepted
            // hazard of mapping files, which the analyser never writes.
            #[allow(unsafe_code)]
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
            Some(map)
        };
        Ok(Mapping {
            map,
            owned: Vec::new(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// An in-memory image with no file behind it (identity `(0, 0)`).
    pub fn from_vec(owned: Vec<u8>) -> Mapping {
        Mapping {
            map: None,
            owned,
            dev: 0,
            ino: 0,
        }
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(m) => m,
            None => &self.owned,
        }
    }

    /// `(st_dev, st_ino)` of the mapped file.
    pub fn file_id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// A part of a mapping shared with other readers: one member of an archive, or a whole file
/// whose mapping several values keep alive.
#[derive(Debug, Clone)]
pub struct SharedBytes {
    map: Arc<Mapping>,
    range: Range<usize>,
}

impl SharedBytes {
    /// The whole of `map`.
    pub fn whole(map: Arc<Mapping>) -> SharedBytes {
        let range = 0..map.bytes().len();
        SharedBytes { map, range }
    }

    /// The bytes `range` of `map`, `None` when the range lies outside it.
    pub fn part(map: Arc<Mapping>, range: Range<usize>) -> Option<SharedBytes> {
        map.bytes().get(range.clone())?;
        Some(SharedBytes { map, range })
    }

    /// The mapping this is a part of.
    pub fn mapping(&self) -> &Arc<Mapping> {
        &self.map
    }
}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        self.map.bytes().get(self.range.clone()).unwrap_or_default()
    }
}
