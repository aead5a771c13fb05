//! The target's C library and dynamic loader, as a build sees them: which glibc version, and
//! whether it owns rseq registration (glibc 2.35 and later export `__rseq_offset`,
//! `__rseq_size` and `__rseq_flags` from `ld.so`, version `GLIBC_2.35`, and register one area
//! per thread themselves).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::input::SharedInput;
use crate::elf::ElfFile;

/// What the build knows about the target's C library.
#[derive(Debug, Clone, Serialize)]
pub struct TargetLibc {
    /// The C library (`libc.so.6`).
    pub libc: PathBuf,
    /// The dynamic loader it needs (`ld-linux-x86-64.so.2`, ...).
    pub loader: Option<PathBuf>,
    /// The newest `GLIBC_2.N` version the C library defines.
    pub version: Option<String>,
    /// True when the loader exports `__rseq_offset@GLIBC_2.35`: the C library registers rseq.
    pub owns_registration: bool,
    /// The rseq symbols the loader exports, as `name@version (size bytes)`.
    pub rseq_symbols: Vec<String>,
}

fn print_file_name(compiler: &str, name: &str) -> Option<PathBuf> {
    let out = Command::new(compiler)
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // The driver echoes the bare name when it does not find the file.
    (p.is_absolute() && p.is_file()).then_some(p)
}

fn glibc_version_key(v: &str) -> Option<(u32, u32, u32)> {
    let rest = v.strip_prefix("GLIBC_")?;
    let mut it = rest.split('.').map(|n| n.parse::<u32>().ok());
    Some((
        it.next()??,
        it.next().flatten().unwrap_or(0),
        it.next().flatten().unwrap_or(0),
    ))
}

impl TargetLibc {
    /// Finds the C library the compiler driver links against (`-print-file-name`), or the
    /// given file.
    pub fn find(compiler: &str, libc: Option<&Path>) -> Option<TargetLibc> {
        let libc = match libc {
            Some(p) => p.to_path_buf(),
            None => print_file_name(compiler, "libc.so.6")?,
        };
        let file = ElfFile::open(&libc).ok()?;
        let lib = SharedInput::from_elf(&file).ok()?;
        let version = lib
            .defs
            .values()
            .filter_map(|d| d.version.clone())
            .filter_map(|v| glibc_version_key(&v).map(|k| (k, v)))
            .max()
            .map(|(_, v)| v);
        // The loader: libc.so.6's DT_NEEDED names it; look beside libc, then ask the driver.
        let loader_name = file
            .dynamic
            .iter()
            .flat_map(|d| d.needed.iter())
            .find(|n| n.starts_with("ld-"))
            .cloned();
        let loader = loader_name.and_then(|n| {
            let beside = libc.parent().map(|d| d.join(&n)).filter(|p| p.is_file());
            beside
                .or_else(|| print_file_name(compiler, &n))
                .or_else(|| Some(PathBuf::from("/lib64").join(&n)).filter(|p| p.is_file()))
        });
        let mut rseq_symbols = Vec::new();
        let mut owns_registration = false;
        if let Some(ld) = &loader {
            if let Ok(ld_file) = ElfFile::open(ld) {
                if let Ok(ld) = SharedInput::from_elf(&ld_file) {
                    for name in ["__rseq_offset", "__rseq_size", "__rseq_flags"] {
                        if let Some(d) = ld.defs.get(name) {
                            let v = d.version.clone().unwrap_or_default();
                            if name == "__rseq_offset" && v == "GLIBC_2.35" {
                                owns_registration = true;
                            }
                            rseq_symbols.push(format!("{name}@{v} ({} bytes)", d.size));
                        }
                    }
                }
            }
        }
        Some(TargetLibc {
            libc,
            loader,
            version,
            owns_registration,
            rseq_symbols,
        })
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let who = format!(
            "{} ({})",
            self.libc.display(),
            self.version.as_deref().unwrap_or("unknown version")
        );
        if self.owns_registration {
            format!(
                "{who} registers rseq for every thread itself; {} exports {}",
                self.loader
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                self.rseq_symbols.join(", ")
            )
        } else {
            format!("{who} does not register rseq: a module must register __rseq_abi")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_order_numerically() {
        assert!(glibc_version_key("GLIBC_2.36") > glibc_version_key("GLIBC_2.4"));
        assert_eq!(glibc_version_key("GLIBC_PRIVATE"), None);
    }
}
