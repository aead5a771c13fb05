//! Finding `-l` libraries the way the linker does: the `-L` directories in order, then the
//! compiler's own library directories; per directory `libNAME.so` before `libNAME.a` (only the
//! archive under `-Bstatic`); `-l:FILE` names the file exactly.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the linker looks for libraries besides the `-L` directories.
#[derive(Debug, Clone, Default)]
pub struct SearchConfig {
    /// The compiler's library directories (`cc -print-search-dirs`), in order.
    pub default_dirs: Vec<PathBuf>,
    /// Prefix for absolute paths inside implicit linker scripts (`--sysroot`).
    pub sysroot: Option<PathBuf>,
    /// The driver passes `--as-needed` before the inputs (Debian's and Ubuntu's gcc do).
    pub default_as_needed: bool,
}

impl SearchConfig {
    /// Finds a start file (`crt1.o`, `crtbeginS.o`, ...) in the library directories.
    pub fn start_file(&self, name: &str) -> Option<PathBuf> {
        self.default_dirs
            .iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    }
}

impl SearchConfig {
    /// The library directories `compiler` reports (`-print-search-dirs`), or the usual
    /// multiarch directories when it cannot be asked.
    pub fn from_compiler(compiler: &str) -> SearchConfig {
        let out = Command::new(compiler).arg("-print-search-dirs").output();
        let mut dirs = Vec::new();
        if let Ok(out) = out {
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                if let Some(list) = line.strip_prefix("libraries: =") {
                    for d in list.split(':').filter(|d| !d.is_empty()) {
                        let p = PathBuf::from(d);
                        // `gcc` reports `.../../lib/`-style paths; keep them only if they exist.
                        if p.is_dir() {
                            dirs.push(p.canonicalize().unwrap_or(p));
                        }
                    }
                }
            }
        }
        let default_as_needed = Command::new(compiler)
            .arg("-dumpspecs")
            .output()
            .map(|o| specs_default_as_needed(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or(false);
        if dirs.is_empty() {
            return SearchConfig {
                default_as_needed,
                ..SearchConfig::fallback()
            };
        }
        dirs.dedup();
        SearchConfig {
            default_dirs: dirs,
            sysroot: None,
            default_as_needed,
        }
    }

    /// The usual directories of a Debian-style multiarch system.
    pub fn fallback() -> SearchConfig {
        let triple = if cfg!(target_arch = "aarch64") {
            "aarch64-linux-gnu"
        } else {
            "x86_64-linux-gnu"
        };
        let dirs = [
            format!("/usr/local/lib/{triple}"),
            "/usr/local/lib".to_string(),
            format!("/lib/{triple}"),
            format!("/usr/lib/{triple}"),
            "/lib".to_string(),
            "/usr/lib".to_string(),
        ];
        SearchConfig {
            default_dirs: dirs
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.is_dir())
                .collect(),
            sysroot: None,
            default_as_needed: false,
        }
    }
}

/// True when the driver's `*link:` spec passes `--as-needed` unconditionally (apart from
/// sanitizer builds), as Debian's gcc does: `%{!fsanitize=*:--as-needed}`.
fn specs_default_as_needed(specs: &str) -> bool {
    let mut lines = specs.lines();
    while let Some(l) = lines.next() {
        if l == "*link:" {
            return lines
                .next()
                .is_some_and(|spec| spec.contains("%{!fsanitize=*:--as-needed}"));
        }
    }
    false
}

/// Finds `-lNAME` (or `-l:FILE`) in `dirs` then the default directories.
pub fn find_library(
    name: &str,
    static_only: bool,
    dirs: &[PathBuf],
    config: &SearchConfig,
) -> Option<PathBuf> {
    let all = dirs.iter().chain(config.default_dirs.iter());
    for dir in all {
        if let Some(exact) = name.strip_prefix(':') {
            let p = dir.join(exact);
            if p.is_file() {
                return Some(p);
            }
            continue;
        }
        if !static_only {
            let so = dir.join(format!("lib{name}.so"));
            if so.is_file() {
                return Some(so);
            }
        }
        let a = dir.join(format!("lib{name}.a"));
        if a.is_file() {
            return Some(a);
        }
    }
    None
}

/// Resolves a file named inside an implicit linker script found at `script`.
pub fn script_entry_path(entry: &str, script: &Path, config: &SearchConfig) -> PathBuf {
    let p = Path::new(entry);
    if p.is_absolute() {
        if let Some(root) = &config.sysroot {
            if script.starts_with(root) {
                let rel = p.strip_prefix("/").unwrap_or(p);
                return root.join(rel);
            }
        }
        return p.to_path_buf();
    }
    // A relative name: the current directory first, then the script's own directory.
    if p.is_file() {
        return p.to_path_buf();
    }
    script
        .parent()
        .map(|d| d.join(p))
        .unwrap_or_else(|| p.to_path_buf())
}
