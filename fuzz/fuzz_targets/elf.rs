//! The ELF layer on arbitrary bytes: parsing (headers, dynamic section, versions, hash
//! table, relocations) and every accessor the loader model uses afterwards, including the
//! hash-chain walk of a symbol lookup. Must return a result or an error, never panic or hang.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rseq_link_check::__fuzz::elf::ElfFile;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = ElfFile::from_bytes(Path::new("fuzz.so"), data.to_vec()) else {
        return;
    };
    let _ = (file.soname(), file.is_dynamic(), file.has_versym());
    let mut names = Vec::new();
    for sym in file.dynamic_symbols().take(4096) {
        if names.len() < 64 {
            names.push(sym.name.to_vec());
        }
        let _ = (sym.binding(), sym.kind(), sym.visibility(), sym.name_str());
        if let Some(v) = sym.versym {
            let _ = file.version(v);
        }
    }
    names.push(b"__rseq_abi".to_vec());
    names.push(b"__rseq_offset".to_vec());
    for name in &names {
        let _ = file.find_dynamic(name, |index, sym| Some((index, sym.value)));
        let _ = file.static_symbols(name).take(16).count();
    }
    let _ = file.symbol_relocs().take(65536).count();
});
