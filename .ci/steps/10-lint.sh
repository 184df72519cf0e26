#!/usr/bin/env bash
# Formatting and lints, warnings as errors.
set -euo pipefail
cargo fmt --all --check
cargo clippy --all-targets --all-features -- -D warnings
