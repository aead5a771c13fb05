//! `/etc/ld.so.cache` as the analyser reads it, against `ldconfig -p` (glibc's own reader).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rseq_link_check::__fuzz::elf::Machine;
use rseq_link_check::__fuzz::loader::{LdCache, Platform};

#[test]
fn every_cache_entry_matches_ldconfig() {
    let cache = Path::new("/etc/ld.so.cache");
    let Ok(out) = Command::new("ldconfig").arg("-p").output() else {
        eprintln!("skipped: ldconfig is not available");
        return;
    };
    if !cache.exists() {
        eprintln!("skipped: no /etc/ld.so.cache");
        return;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // First x86-64 entry per name, as ldconfig prints them in cache order.
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let Some((left, path)) = line.trim().split_once(" => ") else {
            continue;
        };
        let Some((name, flags)) = left.split_once(" (") else {
            continue;
        };
        if !flags.starts_with("libc6,x86-64") || flags.contains("hwcap") {
            continue;
        }
        want.entry(name.to_string())
            .or_insert_with(|| path.to_string());
    }
    assert!(want.len() > 10, "ldconfig -p printed too little: {text}");
    let platform = Platform::debian(Machine::X86_64);
    let ours = LdCache::load(cache, Machine::X86_64, &platform.hwcaps);
    assert_eq!(ours.len(), want.len());
    for (name, path) in &want {
        assert_eq!(ours.lookup(name), Some(path.as_str()), "{name}");
    }
}
