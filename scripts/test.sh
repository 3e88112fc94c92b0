#!/usr/bin/env bash
# Install what the tests need, then run every test: formatting, lints, unit, simulation,
# conformance and real-process tests, and the doc examples.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the tests use: netcat for the four-letter-word smoke check.
missing=()
command -v nc >/dev/null 2>&1 || missing+=(netcat-openbsd)
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
fi
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo build --workspace --all-targets --all-features
cargo nextest run --workspace --all-features --profile ci
cargo test --workspace --doc --all-features

# The README's first command, smoke-tested: a dev ensemble elects and answers srvr.
scripts/dev-smoke.sh
