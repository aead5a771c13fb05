//! The diagnosis reports what the real process looks like, in both renderings.

mod common;

use common::{in_child, Env};
use rseq_link_check::runtime::diagnose;
use serde_json::Value;

fn json() -> Value {
    serde_json::from_str(&diagnose().to_json()).expect("the diagnosis is valid JSON")
}

#[test]
fn diagnosis_glibc_owned() {
    in_child("diagnosis_glibc_owned", Env::GlibcDefault, || {
        let v = json();
        assert_eq!(v["registrar"]["kind"], "glibc");
        assert_eq!(v["glibc_version"], "2.36");
        assert_eq!(v["glibc_rseq"]["rseq_size"], 20);
        assert_eq!(v["area_offset"], v["glibc_rseq"]["rseq_offset"]);
        assert_eq!(v["auxv_rseq_feature_size"], 28);
        assert_eq!(v["auxv_rseq_align"], 32);
        assert_eq!(v["feature_size"], 28);
        assert_eq!(v["thread"]["unavailable"], Value::Null);
        assert!(v["thread"]["cpu_id"].as_i64().unwrap() >= 0);
        assert_eq!(v["membarrier_rseq_fence"], true);
        let defs = v["rseq_abi"]["definitions"].as_array().unwrap();
        if v["own_area_symbol"] == "__rseq_abi" {
            // The test executable defines it but does not export it, and glibc's area is
            // the one in use.
            assert_eq!(defs.len(), 1, "{defs:?}");
            assert_eq!(defs[0]["exported"], false);
            assert_eq!(defs[0]["is_the_area"], false);
            assert_eq!(defs[0]["address"], v["thread"]["own_area"]);
        } else {
            // No module of this test process defines the legacy symbol.
            assert!(defs.is_empty(), "{defs:?}");
        }
        assert_eq!(v["rseq_abi"]["resolved_address"], Value::Null);
        let human = diagnose().to_string();
        assert!(human.contains("registrar:            glibc"), "{human}");
        assert!(human.contains("__rseq_offset/size/flags: "), "{human}");
    });
}

#[test]
fn diagnosis_own_registration() {
    in_child("diagnosis_own_registration", Env::NoGlibcRseq, || {
        let v = json();
        assert_eq!(v["registrar"]["kind"], "crate");
        assert_eq!(v["glibc_rseq"]["rseq_size"], 0);
        assert_eq!(v["thread"]["area"], v["thread"]["own_area"]);
        assert!(v["thread"]["cpu_id"].as_i64().unwrap() >= 0);
    });
}

#[test]
fn diagnosis_refused() {
    in_child("diagnosis_refused", Env::NoGlibcRseq, || {
        rseq_testkit::refuse_rseq(libc::EPERM).expect("install the seccomp filter");
        let v = json();
        assert_eq!(v["registrar"]["kind"], "nobody");
        assert_eq!(v["registrar"]["errno"], "EPERM");
        assert_eq!(v["thread"]["cpu_id"], -1);
        assert!(v["thread"]["unavailable"]
            .as_str()
            .unwrap()
            .contains("EPERM"));
        let human = diagnose().to_string();
        assert!(
            human.contains("registrar:            nobody (rseq(2) refused with EPERM"),
            "{human}"
        );
    });
}

/// The example, built by `cargo test` next to the test binaries.
fn example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/diagnose")
}

#[test]
fn example_prints_human_and_json_forms() {
    let exe = example();
    let human = std::process::Command::new(&exe)
        .env_remove("GLIBC_TUNABLES")
        .output()
        .unwrap();
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.starts_with("registrar:            glibc\n"), "{text}");
    let json = std::process::Command::new(&exe)
        .arg("--json")
        .env("GLIBC_TUNABLES", common::NO_GLIBC_RSEQ)
        .output()
        .unwrap();
    assert!(json.status.success());
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["registrar"]["kind"], "crate");
    let bad = std::process::Command::new(&exe)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
    let err = String::from_utf8(bad.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--bogus"));
}
