//! Text for the loader model's reports: `resolve`, `bindings`, `check` and `graph`.

use std::io::{self, Write};

use super::diagnostics;
use crate::render::{Render, RenderOptions};
use crate::report::{BindingsReport, CheckReport, GraphReport, ResolveReport};

fn load_order(order: &[String], w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "load order:")?;
    for (i, m) in order.iter().enumerate() {
        writeln!(w, "  {i:>2}. {m}")?;
    }
    Ok(())
}

impl Render for ResolveReport {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        writeln!(w, "{}: symbol {}", self.program, self.symbol)?;
        load_order(&self.load_order, w)?;
        writeln!(w, "definitions:")?;
        if self.definitions.is_empty() {
            writeln!(w, "  (none)")?;
        }
        for d in &self.definitions {
            let ver = d
                .version
                .as_deref()
                .map(|v| format!("@{v}"))
                .unwrap_or_default();
            let exported = if d.exported {
                ""
            } else {
                ", private copy (.symtab only)"
            };
            writeln!(
                w,
                "  {}{ver}: {} bytes, {} {} {}{exported}",
                d.module, d.size, d.binding, d.visibility, d.kind
            )?;
        }
        match &self.winner {
            Some(win) => writeln!(w, "winner: {} ({} bytes)", win.module, win.size)?,
            None => writeln!(w, "winner: none")?,
        }
        writeln!(w, "references:")?;
        if self.references.is_empty() {
            writeln!(w, "  (none)")?;
        }
        for r in &self.references {
            writeln!(
                w,
                "  {} -> {} ({})",
                r.module,
                r.binds_to.as_deref().unwrap_or("UNRESOLVED"),
                r.how
            )?;
        }
        diagnostics(&self.diagnostics, w)
    }
    fn dot(&self, w: &mut dyn Write) -> io::Result<()> {
        crate::render::dot::resolve(self, w)
    }
}

impl Render for BindingsReport {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        load_order(&self.load_order, w)?;
        // Plain writes rather than format strings: this list has tens of thousands of lines.
        for b in &self.bindings {
            let parts = [
                "binding file ",
                b.from.as_str(),
                " to ",
                b.to.as_str(),
                ": symbol `",
                b.symbol.as_str(),
                "'",
            ];
            for part in parts {
                w.write_all(part.as_bytes())?;
            }
            if let Some(v) = &b.version {
                for part in [" [", v.as_str(), "]"] {
                    w.write_all(part.as_bytes())?;
                }
            }
            w.write_all(b"\n")?;
        }
        for u in &self.unresolved {
            writeln!(w, "undefined symbol: {} ({})", u.symbol, u.from)?;
        }
        diagnostics(&self.diagnostics, w)
    }
}

impl Render for CheckReport {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        diagnostics(&self.diagnostics, w)?;
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        if errors == 0 {
            writeln!(
                w,
                "{}: ok ({} modules, {} findings)",
                self.program,
                self.load_order.len(),
                self.diagnostics.len()
            )
        } else {
            writeln!(
                w,
                "{}: {} error(s) in {} modules",
                self.program,
                errors,
                self.load_order.len()
            )
        }
    }
}

impl Render for GraphReport {
    fn human(&self, w: &mut dyn Write, _opts: &RenderOptions) -> io::Result<()> {
        for n in &self.nodes {
            let def = match (&n.definition, n.size) {
                (Some(d), Some(s)) => format!(" [{} {}: {} bytes]", d, self.symbol, s),
                _ => String::new(),
            };
            writeln!(w, "{} ({}){def}", n.module, n.reason)?;
        }
        for (a, b) in &self.needed {
            writeln!(w, "  {a} needs {b}")?;
        }
        for (a, b) in &self.binds {
            writeln!(w, "  {a} uses {} of {b}", self.symbol)?;
        }
        diagnostics(&self.diagnostics, w)
    }
    fn dot(&self, w: &mut dyn Write) -> io::Result<()> {
        crate::render::dot::graph(self, w)
    }
}
