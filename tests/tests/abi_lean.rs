//! rseq-abi stays lean: its normal dependency tree has no ELF reader and no serialisation
//! (those belong to rseq-link-check). Asked of `cargo tree` from the workspace root; the
//! twin asks the same of rseq-link-check, which does depend on `object`, so the check
//! cannot pass because the query returned nothing.

use std::path::Path;
use std::process::Command;

/// The crate names in the normal (non-dev, non-build) dependency tree of `package`.
fn normal_dependencies(package: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["tree", "--offline", "-p", package, "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.first().is_some_and(|n| n == package),
        "cargo tree -p {package} starts with the package itself: {names:?}"
    );
    names
}

const HEAVY: [&str; 3] = ["object", "serde", "serde_json"];

#[test]
fn rseq_abi_has_no_elf_reader_nor_serialisation() {
    let deps = normal_dependencies("rseq-abi");
    for heavy in HEAVY {
        assert!(
            !deps.iter().any(|d| d == heavy),
            "rseq-abi depends on {heavy}: {deps:?}"
        );
    }
}

/// The broken twin: the same query on rseq-link-check does list `object`.
#[test]
fn the_same_query_finds_object_under_rseq_link_check() {
    let deps = normal_dependencies("rseq-link-check");
    assert!(deps.iter().any(|d| d == "object"), "{deps:?}");
}
