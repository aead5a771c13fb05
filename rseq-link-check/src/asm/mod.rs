//! Annotated listings of critical sections for code review (`rseq-link-check asm`).
//!
//! [`listing`] builds, for each section, the instructions from the store of the
//! descriptor's address through the commit, the abort handler after its signature and
//! the declared exits, each line marked (`start:`, `commit:`, `abort:`, `exit:`) and
//! commented (branch destinations, the descriptor), together with the section's verdict
//! from [`crate::verify`]. [`crate::render`] prints it, with colour only when asked or on
//! a terminal.

//!
//! [`diff`] compares the listings of two builds (`asm --diff OLD NEW`).

pub mod diff;
pub mod listing;

pub use diff::{diff_listings, AsmDiff, DiffLine, DiffSide, SectionChange, SectionDiff};
pub use listing::{build_listing, AsmListing, Line, Marker, SectionListing};

use std::path::Path;

use crate::error::Result;
use crate::verify::{map_file, Image};

/// Reads the ELF file at `path` and lists its critical sections whose function name
/// contains `function` (all when `None`).
pub fn listing_for_file(path: &Path, function: Option<&str>) -> Result<AsmListing> {
    let map = map_file(path)?;
    let image = Image::parse(path, map.bytes())?;
    Ok(build_listing(&image, &path.display().to_string(), function))
}

/// Lists the critical sections of the ELF files `old` and `new` (those in functions whose
/// name contains `function`, all when `None`) and compares them.
pub fn diff_files(old: &Path, new: &Path, function: Option<&str>) -> Result<AsmDiff> {
    let a = listing_for_file(old, function)?;
    let b = listing_for_file(new, function)?;
    Ok(diff_listings(&a, &b))
}
