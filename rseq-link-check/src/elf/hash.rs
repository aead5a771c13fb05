//! The dynamic symbol hash tables (`DT_GNU_HASH`, `DT_HASH`) and the chain walk glibc's
//! `do_lookup_x` performs. `object` parses these tables but its `find` returns only the first
//! match under its own version rule; the loader needs every same-named entry in chain order,
//! so the walk is done here, bounded by the table sizes.

use std::ops::Range;

use object::elf::{GnuHashHeader, HashHeader};
use object::{Endianness, U32};

use super::range_in;

/// A located hash table.
#[derive(Debug, Clone)]
pub enum SymbolHash {
    /// `.gnu.hash`.
    Gnu {
        /// `symoffset`: index of the first hashed symbol.
        symoffset: u32,
        /// `bloom_shift`.
        bloom_shift: u32,
        /// The 64-bit bloom filter words.
        bloom: Range<usize>,
        /// The buckets.
        buckets: Range<usize>,
        /// The chain hash values, from `symoffset` on.
        chains: Range<usize>,
    },
    /// `.hash`.
    Sysv {
        /// The buckets.
        buckets: Range<usize>,
        /// The chains, one per symbol.
        chains: Range<usize>,
    },
}

/// The GNU hash function (`dl_new_hash`).
pub fn gnu_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in name {
        h = h.wrapping_mul(33).wrapping_add(u32::from(c));
    }
    h
}

/// The SysV ELF hash function (`_dl_elf_hash`).
pub fn elf_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(u32::from(c));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// A symbol name with its hashes computed once per lookup, as glibc's `_dl_lookup_symbol_x`
/// computes `new_hash` once (and `old_hash` only when a module has no GNU hash table).
#[derive(Debug, Clone)]
pub struct HashedName<'a> {
    /// The name.
    pub name: &'a [u8],
    gnu: u32,
    elf: std::cell::Cell<Option<u32>>,
}

impl<'a> HashedName<'a> {
    /// Hashes `name`.
    pub fn new(name: &'a [u8]) -> Self {
        HashedName {
            name,
            gnu: gnu_hash(name),
            elf: std::cell::Cell::new(None),
        }
    }

    fn elf(&self) -> u32 {
        match self.elf.get() {
            Some(h) => h,
            None => {
                let h = elf_hash(self.name);
                self.elf.set(Some(h));
                h
            }
        }
    }
}

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64_at(data: &[u8], off: usize) -> Option<u64> {
    let b = data.get(off..off.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

fn words<'a>(data: &'a [u8], range: &Range<usize>) -> &'a [U32<Endianness>] {
    data.get(range.clone())
        .and_then(|b| object::pod::slice_from_all_bytes(b).ok())
        .unwrap_or_default()
}

impl SymbolHash {
    /// Locates the parts of a GNU hash section.
    pub fn parse_gnu(data: &[u8], section: &[u8]) -> Result<SymbolHash, &'static str> {
        let (header, rest) = object::pod::from_bytes::<GnuHashHeader<Endianness>>(section)
            .map_err(|_| "truncated .gnu.hash header")?;
        let e = Endianness::Little;
        let nbuckets = header.bucket_count.get(e) as usize;
        let bloom_count = header.bloom_count.get(e) as usize;
        if nbuckets == 0 || bloom_count == 0 || !bloom_count.is_power_of_two() {
            return Err("invalid .gnu.hash header");
        }
        let bloom_len = bloom_count
            .checked_mul(8)
            .ok_or("invalid .gnu.hash bloom size")?;
        let bucket_len = nbuckets
            .checked_mul(4)
            .ok_or("invalid .gnu.hash bucket count")?;
        let bloom = rest
            .get(..bloom_len)
            .ok_or("truncated .gnu.hash bloom filter")?;
        let rest = &rest[bloom_len..];
        let buckets = rest
            .get(..bucket_len)
            .ok_or("truncated .gnu.hash buckets")?;
        let chains = &rest[bucket_len..];
        let chains = &chains[..chains.len() / 4 * 4];
        Ok(SymbolHash::Gnu {
            symoffset: header.symbol_base.get(e),
            bloom_shift: header.bloom_shift.get(e),
            bloom: range_in(data, bloom),
            buckets: range_in(data, buckets),
            chains: range_in(data, chains),
        })
    }

    /// Locates the parts of a SysV hash section.
    pub fn parse_sysv(data: &[u8], section: &[u8]) -> Result<SymbolHash, &'static str> {
        let (header, rest) = object::pod::from_bytes::<HashHeader<Endianness>>(section)
            .map_err(|_| "truncated .hash header")?;
        let e = Endianness::Little;
        let nbucket = header.bucket_count.get(e) as usize;
        let nchain = header.chain_count.get(e) as usize;
        let blen = nbucket.checked_mul(4).ok_or("invalid .hash")?;
        let clen = nchain.checked_mul(4).ok_or("invalid .hash")?;
        let buckets = rest.get(..blen).ok_or("truncated .hash buckets")?;
        let chains = rest
            .get(blen..blen.checked_add(clen).ok_or("invalid .hash")?)
            .ok_or("truncated .hash chains")?;
        if nbucket == 0 {
            return Err("empty .hash");
        }
        Ok(SymbolHash::Sysv {
            buckets: range_in(data, buckets),
            chains: range_in(data, chains),
        })
    }

    /// Calls `f` with each symbol index whose hash matches `name`, in chain order, until `f`
    /// returns `Some`. Every walk is bounded by the table length.
    pub fn walk<T>(
        &self,
        data: &[u8],
        name: &HashedName<'_>,
        mut f: impl FnMut(u32) -> Option<T>,
    ) -> Option<T> {
        let e = Endianness::Little;
        match self {
            SymbolHash::Gnu {
                symoffset,
                bloom_shift,
                bloom,
                buckets,
                chains,
            } => {
                let h = name.gnu;
                // Read single words in place: a lookup touches one bloom word, one bucket
                // and a few chain values of each module in scope.
                let nbloom = (bloom.end - bloom.start) / 8;
                if nbloom == 0 {
                    return None;
                }
                let word = u64_at(data, bloom.start + ((h as usize / 64) & (nbloom - 1)) * 8)?;
                let mask = (1u64 << (h % 64)) | (1u64 << ((h >> (bloom_shift & 31)) % 64));
                if word & mask != mask {
                    return None;
                }
                let nbuckets = (buckets.end - buckets.start) / 4;
                let start = u32_at(data, buckets.start + (h as usize % nbuckets) * 4)?;
                if start == 0 || start < *symoffset {
                    return None;
                }
                let chains = words(data, chains);
                let mut i = (start - symoffset) as usize;
                while let Some(v) = chains.get(i) {
                    let v = v.get(e);
                    if (v ^ h) >> 1 == 0 {
                        if let Some(r) = f(i as u32 + symoffset) {
                            return Some(r);
                        }
                    }
                    if v & 1 != 0 {
                        break;
                    }
                    i += 1;
                }
                None
            }
            SymbolHash::Sysv { buckets, chains } => {
                let h = name.elf();
                let buckets = words(data, buckets);
                let chains = words(data, chains);
                let mut i = buckets.get(h as usize % buckets.len())?.get(e);
                let mut steps = 0usize;
                while i != 0 && steps <= chains.len() {
                    if let Some(r) = f(i) {
                        return Some(r);
                    }
                    i = chains.get(i as usize)?.get(e);
                    steps += 1;
                }
                None
            }
        }
    }
}
