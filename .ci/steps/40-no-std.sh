#!/usr/bin/env bash
# The crate builds for bare-metal targets: core only (staggered_race_array, no heap), and with
# `alloc` (staggered_race).
set -euo pipefail
cargo build --no-default-features --target thumbv7em-none-eabihf
cargo build --no-default-features --features alloc --target thumbv7em-none-eabihf
# A target without compare-and-swap (Cortex-M0): the race builds with `portable-atomic`,
# here with its critical-section backend (the firmware supplies the implementation).
rustup target add thumbv6m-none-eabi
cargo build --no-default-features --target thumbv6m-none-eabi
cargo build --no-default-features --features alloc,portable-atomic,portable-atomic/critical-section \
  --target thumbv6m-none-eabi
