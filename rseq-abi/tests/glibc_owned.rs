//! The default environment of this machine: glibc registered every thread's area.

use rseq_abi::thread::{self, Registrar};

#[test]
fn glibc_owns_registration_by_default() {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return; // not the default environment
    }
    let glibc = rseq_abi::glibc::rseq_symbols().expect("glibc exports __rseq_offset");
    assert!(glibc.size > 0);
    assert_eq!(thread::registrar(), Registrar::Glibc(glibc));
    assert_eq!(thread::area_offset(), glibc.offset);
    assert_eq!(thread::prepare_current_thread(), Ok(()));
    let cpu = rseq_abi::cpu::cpu_id();
    assert!(cpu >= 0 && (cpu as usize) < rseq_abi::cpu::possible_cpus());
    std::thread::spawn(move || {
        assert_eq!(thread::prepare_current_thread(), Ok(()));
        assert_eq!(thread::area_offset(), glibc.offset);
        assert!(rseq_abi::cpu::cpu_id() >= 0);
    })
    .join()
    .unwrap();
}
