//! `cargo-rseq`: the Cargo subcommand `cargo rseq check [cargo build options]`, installed
//! with `cargo install --path rseq-link-check`. Builds, then checks every linked artifact
//! with the loader model and the critical-section verifier.

fn main() {
    let status = rseq_link_check::cargo_rseq::run(std::env::args_os().skip(1).collect());
    std::process::exit(status.code());
}
