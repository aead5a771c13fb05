//! JSON rendering (serde_json), pretty-printed with a trailing newline.

use std::io::{self, Write};

use serde::Serialize;

/// Writes `value` as pretty JSON.
pub fn write<T: Serialize + ?Sized>(value: &T, w: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
    writeln!(w)
}
