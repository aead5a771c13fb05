//! Text for people, one file per report family: [`loader`] (resolve, bindings, check,
//! graph), [`link`] (static link prediction, build-script report), [`verify`], [`asm`]
//! (critical-section listings, the only renderer that uses colour), [`inject`] (abort
//! injection coverage) and [`explain`].

pub mod asm;
pub mod explain;
pub mod inject;
pub mod link;
pub mod loader;
pub mod verify;

use std::io::{self, Write};

use crate::diag::Diagnostic;

/// Writes findings, one block each.
pub fn diagnostics(diags: &[Diagnostic], w: &mut dyn Write) -> io::Result<()> {
    for d in diags {
        writeln!(w, "{}[{}]: {}", d.severity, d.code, d.message)?;
        writeln!(w, "  hint: {}", d.hint)?;
    }
    Ok(())
}
