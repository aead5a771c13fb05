//! Finding a needed file as glibc 2.36 `_dl_map_object` does (`elf/dl-load.c`): dynamic string
//! tokens (`$ORIGIN`, `$LIB`, `$PLATFORM`), search-path lists, the glibc-hwcaps and legacy
//! subdirectories tried inside each directory, and the system directories.

use crate::elf::Machine;

/// Host facts that dynamic string tokens and subdirectories depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `$LIB` (Debian: `lib/x86_64-linux-gnu`).
    pub lib: String,
    /// `$PLATFORM` (`AT_PLATFORM`: `x86_64`, `aarch64`).
    pub platform: String,
    /// Supported glibc-hwcaps subdirectory names, best first (`x86-64-v3`, ...).
    pub hwcaps: Vec<String>,
    /// Subdirectories tried inside every search directory, in order, each ending in `/`
    /// (the empty string is the directory itself).
    pub subdirs: Vec<String>,
    /// The system search directories, each ending in `/`.
    pub system_dirs: Vec<String>,
    /// The interpreter used when the analysed file names none.
    pub default_interp: String,
}

/// The x86-64 micro-architecture levels this CPU supports, best first, as glibc's
/// `dl-hwcaps-subdirs.c` decides them.
fn x86_64_levels() -> Vec<String> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let v2 = has!("cmpxchg16b")
            && has!("popcnt")
            && has!("sse3")
            && has!("sse4.1")
            && has!("sse4.2")
            && has!("ssse3");
        let v3 = v2
            && has!("avx")
            && has!("avx2")
            && has!("bmi1")
            && has!("bmi2")
            && has!("f16c")
            && has!("fma")
            && has!("lzcnt")
            && has!("movbe");
        let v4 = v3
            && has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        let mut out = Vec::new();
        if v4 {
            out.push("x86-64-v4".to_string());
        }
        if v3 {
            out.push("x86-64-v3".to_string());
        }
        if v2 {
            out.push("x86-64-v2".to_string());
        }
        out
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec!["x86-64-v4".into(), "x86-64-v3".into(), "x86-64-v2".into()]
    }
}

impl Platform {
    /// The Debian glibc 2.36 layout for `machine`.
    pub fn debian(machine: Machine) -> Platform {
        let (triplet, platform, interp) = match machine {
            Machine::X86_64 => ("x86_64-linux-gnu", "x86_64", "/lib64/ld-linux-x86-64.so.2"),
            Machine::Aarch64 => ("aarch64-linux-gnu", "aarch64", "/lib/ld-linux-aarch64.so.1"),
        };
        let hwcaps = match machine {
            Machine::X86_64 => x86_64_levels(),
            Machine::Aarch64 => Vec::new(),
        };
        let mut subdirs: Vec<String> = hwcaps
            .iter()
            .map(|h| format!("glibc-hwcaps/{h}/"))
            .collect();
        // Legacy hwcaps subdirectories (`_dl_important_hwcaps`): the combinations of "tls",
        // the platform and the hardware capability names, most specific first.
        let p = platform;
        match machine {
            Machine::X86_64 => subdirs.extend([
                format!("tls/{p}/{p}/"),
                format!("tls/{p}/"),
                format!("tls/{p}/"),
                "tls/".to_string(),
                format!("{p}/{p}/"),
                format!("{p}/"),
                format!("{p}/"),
            ]),
            Machine::Aarch64 => {
                subdirs.extend([format!("tls/{p}/"), "tls/".to_string(), format!("{p}/")])
            }
        }
        subdirs.push(String::new());
        Platform {
            lib: format!("lib/{triplet}"),
            platform: platform.to_string(),
            hwcaps,
            subdirs,
            system_dirs: vec![
                format!("/lib/{triplet}/"),
                format!("/usr/lib/{triplet}/"),
                "/lib/".to_string(),
                "/usr/lib/".to_string(),
            ],
            default_interp: interp.to_string(),
        }
    }
}

/// Expands `$ORIGIN`, `$LIB`, `$PLATFORM` (also in `${...}` form) in one path element, as
/// `_dl_dst_substitute` does. Returns `None` when the element must be dropped (an unknown
/// origin, or `$ORIGIN` not alone at the start in secure mode).
pub fn expand_dst(
    element: &str,
    origin: Option<&str>,
    platform: &Platform,
    secure: bool,
) -> Option<String> {
    let mut out = String::new();
    let mut rest = element;
    let mut first = true;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (token, len) = if let Some(stripped) = after.strip_prefix('{') {
            match stripped.find('}') {
                Some(end) => (&stripped[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let at_start = first && pos == 0 && out.is_empty();
        let next = &after[len..];
        match token {
            "ORIGIN" => {
                if secure && !(at_start && (next.is_empty() || next.starts_with('/'))) {
                    return None;
                }
                out.push_str(origin?);
            }
            "LIB" => out.push_str(&platform.lib),
            "PLATFORM" => out.push_str(&platform.platform),
            _ => {
                out.push('$');
                rest = after;
                first = false;
                continue;
            }
        }
        rest = next;
        first = false;
    }
    out.push_str(rest);
    Some(out)
}

/// Splits a colon (or, for `LD_PRELOAD`, also space) separated list into elements; empty
/// elements of a search path mean the current directory, as `fillin_rpath` treats them.
pub fn split_path_list(list: &str) -> Vec<String> {
    list.split(':')
        .map(|e| {
            if e.is_empty() {
                ".".to_string()
            } else {
                e.to_string()
            }
        })
        .collect()
}

/// Normalises a directory as `fillin_rpath` does: trailing slashes removed (except for `/`),
/// then one `/` appended.
pub fn dir_with_slash(dir: &str) -> String {
    let trimmed = dir.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("{trimmed}/")
    }
}

/// Expands a DT_RPATH / DT_RUNPATH / LD_LIBRARY_PATH string into directories ending in `/`.
pub fn expand_path_list(
    list: &str,
    origin: Option<&str>,
    platform: &Platform,
    secure: bool,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in split_path_list(list) {
        if let Some(dir) = expand_dst(&e, origin, platform, secure) {
            let dir = dir_with_slash(&dir);
            if secure && !platform.system_dirs.contains(&dir) && e.contains('$') {
                // Secure mode keeps an expanded $ORIGIN only inside trusted directories.
                continue;
            }
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand() {
        let p = Platform::debian(Machine::X86_64);
        assert_eq!(
            expand_dst("$ORIGIN/../lib", Some("/a/b"), &p, false).as_deref(),
            Some("/a/b/../lib")
        );
        assert_eq!(
            expand_dst("/x/${LIB}/y", None, &p, false).as_deref(),
            Some("/x/lib/x86_64-linux-gnu/y")
        );
        assert_eq!(
            expand_dst("/x/$PLATFORM", None, &p, false).as_deref(),
            Some("/x/x86_64")
        );
        assert_eq!(expand_dst("/x/$ORIGIN", Some("/o"), &p, true), None);
        assert_eq!(
            expand_dst("$ORIGIN", Some("/o"), &p, true).as_deref(),
            Some("/o")
        );
        assert_eq!(dir_with_slash("/a//"), "/a/");
        assert_eq!(dir_with_slash("/"), "/");
    }
}
