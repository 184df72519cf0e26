#!/usr/bin/env bash
# Toolchain pieces the later steps use. Idempotent: fast when everything is already there.
set -euo pipefail
rustup component add rustfmt clippy
rustup target add thumbv7em-none-eabihf
rustup toolchain install nightly --profile minimal --component miri,rust-src
cargo +nightly miri setup
