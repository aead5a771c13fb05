#!/usr/bin/env bash
# Runs every check and test of the workspace on this machine, installing first what the
# tests need (Debian packages: cross binutils, lld, ...). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo test --workspace
# The ABI types alone build without std.
cargo build -p rseq-abi --no-default-features
# The fallback structures under the loom model checker (own target directory: other flags).
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p rseq-percpu --lib --release loom
# The per-CPU structures' fallback and mixed modes under AddressSanitizer (installed nightly;
# about 2 minutes cold). The capacity tests ask for huge allocations: ASan must return null.
ASAN_OPTIONS=allocator_may_return_null=1 RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
    cargo +nightly test -p rseq-percpu --test percpu_modes --test bounds --test signal_fork \
    --target x86_64-unknown-linux-gnu
