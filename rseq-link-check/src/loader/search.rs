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

/// `$PLATFORM` and the legacy hardware-capability names on x86_64, as glibc 2.36's
/// `init_cpu_features` (`sysdeps/x86/cpu-features.c`) sets `dl_platform` and `dl_hwcap`: on
/// an Intel CPU the platform becomes `xeon_phi` (AVX512CD, ER and PF) or `haswell` (AVX2,
/// FMA, BMI1, BMI2, LZCNT, MOVBE, POPCNT), and the capability `avx512_1` joins `x86_64`
/// when AVX512CD, BW, DQ and VL are usable without ER; elsewhere the platform stays
/// `AT_PLATFORM` (`x86_64`) with the one capability `x86_64`.
fn x86_64_legacy() -> (&'static str, Vec<&'static str>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| -> Vec<String> {
            cpuinfo
                .lines()
                .find(|l| l.split(':').next().map(str::trim) == Some(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let intel = field("vendor_id").iter().any(|v| v == "GenuineIntel");
        let flags = field("flags");
        let flag = |f: &str| flags.iter().any(|x| x == f);
        let mut platform = None;
        let mut caps = Vec::new();
        if intel {
            if has!("avx512cd") {
                if flag("avx512er") {
                    if flag("avx512pf") {
                        platform = Some("xeon_phi");
                    }
                } else if has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                    caps.push("avx512_1");
                }
            }
            if platform.is_none()
                && has!("avx2")
                && has!("fma")
                && has!("bmi1")
                && has!("bmi2")
                && has!("lzcnt")
                && has!("movbe")
                && has!("popcnt")
            {
                platform = Some("haswell");
            }
        }
        caps.push("x86_64");
        (platform.unwrap_or("x86_64"), caps)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        ("x86_64", vec!["x86_64"])
    }
}

/// The legacy hwcaps subdirectories of `_dl_important_hwcaps` (`elf/dl-hwcaps.c`): every
/// subset of `components` (the platform, then the capability names), in the order of a
/// binary count down from all of them, first each under `tls/`, then each without; the
/// empty subset of the second half is the directory itself and is left to the caller.
fn legacy_subdirs(components: &[&str]) -> Vec<String> {
    let n = components.len();
    let subset = |mask: usize| -> String {
        (0..n)
            .filter(|i| mask & (1 << (n - 1 - i)) != 0)
            .map(|i| format!("{}/", components[i]))
            .collect()
    };
    let masks = (0..1usize << n).rev();
    let mut out: Vec<String> = masks
        .clone()
        .map(|m| format!("tls/{}", subset(m)))
        .collect();
    out.extend(masks.filter(|&m| m != 0).map(subset));
    out
}

impl Platform {
    /// The Debian glibc 2.36 layout for `machine`.
    pub fn debian(machine: Machine) -> Platform {
        let (triplet, interp) = match machine {
            Machine::X86_64 => ("x86_64-linux-gnu", "/lib64/ld-linux-x86-64.so.2"),
            Machine::Aarch64 => ("aarch64-linux-gnu", "/lib/ld-linux-aarch64.so.1"),
        };
        let (platform, caps) = match machine {
            Machine::X86_64 => x86_64_legacy(),
            Machine::Aarch64 => ("aarch64", Vec::new()),
        };
        let hwcaps = match machine {
            Machine::X86_64 => x86_64_levels(),
            Machine::Aarch64 => Vec::new(),
        };
        let mut subdirs: Vec<String> = hwcaps
            .iter()
            .map(|h| format!("glibc-hwcaps/{h}/"))
            .collect();
        // Legacy hwcaps subdirectories: the platform and the capability names.
        subdirs.extend(legacy_subdirs(
            &std::iter::once(platform).chain(caps).collect::<Vec<_>>(),
        ));
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
    #[test]
    fn legacy_subdirs_follow_dl_important_hwcaps() {
        // glibc 2.36's search path (LD_DEBUG=libs) on an Intel CPU with AVX-512:
        // platform `haswell`, capabilities `avx512_1` and `x86_64`.
        let want = "tls/haswell/avx512_1/x86_64/ tls/haswell/avx512_1/ tls/haswell/x86_64/ \
                    tls/haswell/ tls/avx512_1/x86_64/ tls/avx512_1/ tls/x86_64/ tls/ \
                    haswell/avx512_1/x86_64/ haswell/avx512_1/ haswell/x86_64/ haswell/ \
                    avx512_1/x86_64/ avx512_1/ x86_64/";
        let got = super::legacy_subdirs(&["haswell", "avx512_1", "x86_64"]);
        assert_eq!(got.join(" "), want);
        // Without a platform of its own the platform and the capability share a name.
        let got = super::legacy_subdirs(&["x86_64", "x86_64"]);
        assert_eq!(
            got.join(" "),
            "tls/x86_64/x86_64/ tls/x86_64/ tls/x86_64/ tls/ x86_64/x86_64/ x86_64/ x86_64/"
        );
    }

    use super::*;

    #[test]
    fn tokens_expand() {
        let p = Platform {
            platform: "haswell".into(),
            ..Platform::debian(Machine::X86_64)
        };
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
            Some("/x/haswell")
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
