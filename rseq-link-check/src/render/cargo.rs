//! `cargo:warning=` lines: how a build script shows findings in Cargo's output.

use std::io::{self, Write};

use crate::diag::Diagnostic;

/// One `cargo:warning=` line per finding, on one line each.
pub fn warnings(diags: &[Diagnostic], w: &mut dyn Write) -> io::Result<()> {
    for d in diags {
        writeln!(
            w,
            "cargo:warning=rseq-link-check: {}[{}]: {} (fix: {})",
            d.severity,
            d.code,
            d.message.replace('\n', " "),
            d.hint
        )?;
    }
    Ok(())
}
