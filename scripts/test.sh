#!/usr/bin/env bash
# Install what the tests need, then run every test: formatting, lints, unit, simulation,
# conformance and real-process tests, the doc examples, and the compatibility suite with
# real third-party clients (kazoo, zkCli.sh, the C client) against zk-rs standalone and
# as a 3-node ensemble.
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
# Apache ZooKeeper 3.8 (reference for the differential tests, zkCli.sh), its C client, and
# a virtualenv with kazoo and pytest.
tests/compat/install.sh
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
rustup component add rustfmt clippy >/dev/null 2>&1 || true

cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo build --workspace --all-targets --all-features
cargo nextest run --workspace --all-features --profile ci
cargo test --workspace --doc --all-features

# The README's first command, smoke-tested: a dev ensemble elects and answers srvr.
scripts/dev-smoke.sh

# Real clients against zk-rs, exactly as against Apache ZooKeeper (run.sh --reference).
SKIP_INSTALL=1 tests/compat/run.sh --zkrs target/debug/zk-server
SKIP_INSTALL=1 tests/compat/run.sh --zkrs-ensemble target/debug/zk-server
