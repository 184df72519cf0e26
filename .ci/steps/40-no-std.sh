#!/usr/bin/env bash
# The crate builds for a bare-metal target: core only, and with `alloc` (the race itself).
set -euo pipefail
cargo build --no-default-features --target thumbv7em-none-eabihf
cargo build --no-default-features --features alloc --target thumbv7em-none-eabihf
