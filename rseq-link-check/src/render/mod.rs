//! Rendering of every report, in one place. A report is plain data (see [`crate::report`]);
//! [`emit`] writes it in the one [`Format`] asked for, with the [`RenderOptions`] (colour)
//! the caller resolved against the writer it actually writes to.
//!
//! - [`human`]: text for people, one file per report family.
//! - [`json`]: the report's `serde` form (`serde_json`, pretty-printed).
//! - [`dot`]: Graphviz DOT for the reports that have a graph form.
//! - [`cargo`]: `cargo:warning=` lines for build scripts.

pub mod cargo;
pub mod dot;
pub mod human;
pub mod json;

use std::io::{self, Write};

use serde::Serialize;

pub use human::asm::render_listing;
pub use human::verify::render_text;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Format {
    /// Text for people.
    #[default]
    Human,
    /// JSON for tools.
    Json,
    /// Graphviz DOT.
    Dot,
}

/// Whether to colour text output (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[non_exhaustive]
pub enum ColorChoice {
    /// Colour when the output is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Resolves the choice for a writer: `Auto` colours only when `writer_is_terminal` (the
    /// writer the text goes to, not necessarily the process's standard output) and the
    /// environment does not set `NO_COLOR`.
    pub fn enabled(self, writer_is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => writer_is_terminal && std::env::var_os("NO_COLOR").is_none(),
        }
    }
}

/// How to render: the options a renderer may honour (today, colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RenderOptions {
    /// Use ANSI colour in text output.
    pub color: bool,
}

impl RenderOptions {
    /// Options for a writer: `color` resolved with [`ColorChoice::enabled`].
    pub fn new(color: ColorChoice, writer_is_terminal: bool) -> Self {
        RenderOptions {
            color: color.enabled(writer_is_terminal),
        }
    }
}

/// A report that can be rendered. JSON comes from `Serialize`; a report without a graph
/// form renders DOT as an error.
pub trait Render: Serialize {
    /// Writes the human-readable form.
    fn human(&self, w: &mut dyn Write, opts: &RenderOptions) -> io::Result<()>;
    /// Writes the Graphviz form.
    fn dot(&self, _w: &mut dyn Write) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this report has no DOT form",
        ))
    }
}

/// Renders `report` in `format` to `w`.
pub fn emit<R: Render + ?Sized>(
    report: &R,
    format: Format,
    opts: &RenderOptions,
    w: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => report.human(w, opts),
        Format::Json => json::write(report, w),
        Format::Dot => report.dot(w),
    }
}
