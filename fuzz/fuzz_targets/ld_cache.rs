//! `ld.so.cache` parsing on arbitrary bytes, for both machines and with glibc-hwcaps
//! subdirectories, then lookups. Must return a cache or `None`, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rseq_link_check::__fuzz::elf::Machine;
use rseq_link_check::__fuzz::loader::LdCache;

fuzz_target!(|data: &[u8]| {
    let hwcaps = ["x86-64-v3".to_string(), "x86-64-v2".to_string()];
    for machine in [Machine::X86_64, Machine::Aarch64] {
        if let Some(cache) = LdCache::parse(data, machine, &hwcaps) {
            let _ = (cache.len(), cache.is_empty());
            for name in ["libc.so.6", "libm.so.6", "libpthread.so.0", ""] {
                let _ = cache.lookup(name);
            }
        }
    }
});
