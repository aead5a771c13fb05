//! `cargo-rseq`: the Cargo subcommand `cargo rseq check|verify|asm|inject [cargo build
//! options]`, installed with `cargo install --path rseq-link-check`. Builds, then analyses
//! every linked artifact with the loader model, the critical-section verifier, the
//! section listings or abort injection.

fn main() {
    let status = rseq_link_check::cargo_rseq::run(std::env::args_os().skip(1).collect());
    std::process::exit(status.code());
}
