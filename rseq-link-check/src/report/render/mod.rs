//! Renderers. The output format is chosen here, in [`emit`], and nowhere else.

pub mod dot;
pub mod human;
pub mod json;

use std::io::{self, Write};

use serde::Serialize;

use crate::error::ExitStatus;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Text for people.
    #[default]
    Human,
    /// JSON for tools.
    Json,
    /// Graphviz DOT.
    Dot,
}

/// A report that can be rendered. JSON comes from `Serialize`; a report without a graph
/// form renders DOT as an error.
pub trait Render: Serialize {
    /// Writes the human-readable form.
    fn human(&self, w: &mut dyn Write) -> io::Result<()>;
    /// Writes the Graphviz form.
    fn dot(&self, _w: &mut dyn Write) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this report has no DOT form",
        ))
    }
    /// The exit status the report calls for.
    fn exit_status(&self) -> ExitStatus;
}

/// Renders `report` in `format` to `w`.
pub fn emit<R: Render>(report: &R, format: Format, w: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Human => report.human(w),
        Format::Json => json::write(report, w),
        Format::Dot => report.dot(w),
    }
}
