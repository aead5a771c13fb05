//! Text for `explain`: one code in its long form, or the catalog as a table.

use std::io::{self, Write};

use crate::explain::ExplainReport;
use crate::render::{Render, RenderOptions};

impl Render for ExplainReport {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        match self {
            ExplainReport::One(e) => writeln!(
                w,
                "{} ({}): {}\n\n{}\n\nfix: {}",
                e.code, e.severity, e.summary, e.explanation, e.hint
            ),
            ExplainReport::Catalog { codes } => {
                for e in codes {
                    writeln!(
                        w,
                        "{:<28} {:<8} {}",
                        e.code.as_str(),
                        e.severity.to_string(),
                        e.summary
                    )?;
                }
                Ok(())
            }
        }
    }
}
