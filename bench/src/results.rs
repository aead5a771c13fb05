//! Figures next to criterion's: reading its estimates back, the side measurements
//! criterion does not take (aborts per million operations, fallback use, instruction
//! counts), and the Markdown tables with ratios that `BENCHMARKS.md` quotes.

use crate::paths;
use std::fmt::Write as _;
use std::path::Path;

/// Criterion's estimate of the time of one iteration, in nanoseconds: the slope of the
/// linear fit when it exists, the mean otherwise. `None` when criterion wrote no estimate
/// for this id (the benchmark was filtered out, or ran in `--test` mode).
pub fn estimate_ns(group: &str, function: &str, parameter: Option<&str>) -> Option<f64> {
    let mut dir = paths::criterion_dir().join(group).join(function);
    if let Some(p) = parameter {
        dir = dir.join(p);
    }
    read_estimate(&dir.join("new").join("estimates.json"))
}

fn read_estimate(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    ["slope", "mean"]
        .iter()
        .find_map(|k| json.get(k)?.get("point_estimate")?.as_f64())
}

/// One measured variant of one operation in one configuration.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The operation (criterion group), e.g. `counter`.
    pub group: String,
    /// The variant (criterion function), e.g. `percpu` or `atomic-shared`.
    pub variant: String,
    /// The configuration (criterion parameter), e.g. `2t-2cpu`.
    pub config: String,
    /// Nanoseconds per operation (criterion's estimate), if measured.
    pub ns: Option<f64>,
    /// Aborted critical sections per million operations (per-CPU variants only).
    pub aborts_per_million: Option<f64>,
    /// Anything else worth a note (fallback use, checks done).
    pub note: String,
}

impl Measured {
    /// Reads criterion's estimate for `group/variant/config`.
    pub fn new(group: &str, variant: &str, config: &str) -> Self {
        Measured {
            group: group.into(),
            variant: variant.into(),
            config: config.into(),
            ns: estimate_ns(group, variant, Some(config)),
            aborts_per_million: None,
            note: String::new(),
        }
    }
}

fn cell(rows: &[Measured], variant: &str, config: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.variant == variant && r.config == config)
        .and_then(|r| r.ns)
}

/// A Markdown table of one operation: ns/op per variant and configuration, the ratio
/// of each alternative to `baseline` (alternative time ÷ baseline time: above 1 means the
/// baseline is that many times faster), and the baseline's aborts per million operations.
pub fn markdown_table(title: &str, baseline: &str, configs: &[&str], rows: &[Measured]) -> String {
    let mut variants: Vec<&str> = Vec::new();
    for r in rows {
        if !variants.contains(&r.variant.as_str()) {
            variants.push(&r.variant);
        }
    }
    let mut out = String::new();
    let _ = writeln!(out, "### {title}\n");
    let _ = write!(out, "| variant |");
    for c in configs {
        let _ = write!(out, " {c} ns/op | {c} ratio |");
    }
    let _ = writeln!(out);
    let _ = write!(out, "| --- |");
    for _ in configs {
        let _ = write!(out, " ---: | ---: |");
    }
    let _ = writeln!(out);
    for v in &variants {
        let _ = write!(out, "| {v} |");
        for c in configs {
            let ns = cell(rows, v, c);
            let base = cell(rows, baseline, c);
            let ns_s = ns.map_or("–".to_string(), |n| format!("{n:.2}"));
            let ratio = match (ns, base) {
                (Some(n), Some(b)) if b > 0.0 => format!("{:.2}×", n / b),
                _ => "–".to_string(),
            };
            let _ = write!(out, " {ns_s} | {ratio} |");
        }
        let _ = writeln!(out);
    }
    let aborts: Vec<String> = configs
        .iter()
        .filter_map(|c| {
            let r = rows
                .iter()
                .find(|r| r.variant == baseline && r.config == *c)?;
            let a = r.aborts_per_million?;
            Some(format!("{c}: {a:.1}"))
        })
        .collect();
    if !aborts.is_empty() {
        let _ = writeln!(
            out,
            "\n`{baseline}` aborts per million operations: {}.",
            aborts.join(", ")
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .filter(|r| !r.note.is_empty())
        .map(|r| format!("- {} {}: {}", r.variant, r.config, r.note))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\n{}", notes.join("\n"));
    }
    out
}

/// Writes `text` to `TARGET/rseq-bench/NAME` and prints where it went.
pub fn save(name: &str, text: &str) {
    let path = paths::results_dir().join(name);
    match std::fs::write(&path, text) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(variant: &str, config: &str, ns: f64) -> Measured {
        Measured {
            group: "g".into(),
            variant: variant.into(),
            config: config.into(),
            ns: Some(ns),
            aborts_per_million: Some(1.5),
            note: String::new(),
        }
    }

    #[test]
    fn ratios_are_alternative_time_over_baseline_time() {
        let rows = [row("percpu", "1t", 2.0), row("atomic", "1t", 5.0)];
        let md = markdown_table("T", "percpu", &["1t"], &rows);
        assert!(md.contains("| percpu | 2.00 | 1.00× |"), "{md}");
        assert!(md.contains("| atomic | 5.00 | 2.50× |"), "{md}");
        assert!(md.contains("1t: 1.5"), "{md}");
    }

    #[test]
    fn a_missing_estimate_shows_as_a_dash() {
        let mut r = row("atomic", "1t", 5.0);
        r.ns = None;
        let md = markdown_table("T", "percpu", &["1t"], &[row("percpu", "1t", 2.0), r]);
        assert!(md.contains("| atomic | – | – |"), "{md}");
    }
}
