//! The real dynamic loader's `LD_DEBUG=bindings` output, read into comparable tuples.
//!
//! glibc's `elf/dl-lookup.c` prints one line per resolved reference:
//!
//! ```text
//! PID: binding file FROM [0] to TO [0]: normal symbol `NAME' [VERSION]
//! ```
//!
//! (a tab after `PID:`; the version, in brackets, only when the reference is versioned).

use std::collections::BTreeSet;

/// One binding as the loader prints it: (referencing module, symbol, version or "",
/// defining module).
pub type Binding = (String, String, String, String);

/// Every binding line in `stderr` (other lines are ignored).
pub fn bindings(stderr: &str) -> BTreeSet<Binding> {
    stderr.lines().filter_map(binding).collect()
}

/// The binding a single line reports, if it is a binding line.
pub fn binding(line: &str) -> Option<Binding> {
    let (_, rest) = line.split_once("binding file ")?;
    let (from, rest) = rest.split_once(" [0] to ")?;
    let (to, rest) = rest.split_once(" [0]: ")?;
    let (_, rest) = rest.split_once(" symbol `")?;
    let (symbol, rest) = rest.split_once('\'')?;
    let version = rest.trim().trim_start_matches('[').trim_end_matches(']');
    Some((from.into(), symbol.into(), version.into(), to.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_versioned_and_unversioned_lines() {
        let stderr = "\
     12:\tbinding file /bin/x [0] to /lib/libc.so.6 [0]: normal symbol `free' [GLIBC_2.2.5]
     12:\tbinding file /lib/a.so [0] to /lib/a.so [0]: normal symbol `__rseq_abi'
     12:\tcalling init: /lib/libc.so.6
";
        let got: Vec<_> = bindings(stderr).into_iter().collect();
        assert_eq!(
            got,
            vec![
                (
                    "/bin/x".into(),
                    "free".into(),
                    "GLIBC_2.2.5".into(),
                    "/lib/libc.so.6".into()
                ),
                (
                    "/lib/a.so".into(),
                    "__rseq_abi".into(),
                    String::new(),
                    "/lib/a.so".into()
                ),
            ]
        );
    }
}
