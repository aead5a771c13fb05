//! `rseq-link-wrapper`: a linker for Rust builds that checks what the link makes of
//! `__rseq_abi`. Set it as the linker (`.cargo/config.toml`: `linker = "rseq-link-wrapper"`,
//! or `RUSTFLAGS=-Clinker=rseq-link-wrapper`); it runs the real linker (`cc`, or
//! `$RSEQ_LINK_CHECK_LINKER`) and fails the link on error findings.

fn main() {
    let code = rseq_link_check::wrapper::run(std::env::args_os().skip(1).collect());
    std::process::exit(code);
}
