#!/usr/bin/env bash
# Bare metal: the crate builds for thumbv7em-none-eabihf in every combination of its no_std
# features (alloc, embassy-time, portable-atomic), and the firmware example
# (examples/firmware: no_std, no_main, its own Timer, a global allocator) builds and links,
# and runs on QEMU's Cortex-M4 board model, where it checks its own outcome and timings.
set -euo pipefail
rustup target add thumbv7em-none-eabihf
rustup component add llvm-tools
if ! command -v qemu-system-arm >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends qemu-system-arm
fi
if [ "$(cargo hack --version 2>/dev/null)" != "cargo-hack 0.6.46" ]; then
  cargo install cargo-hack --version 0.6.46 --locked
fi

t0=$(date +%s)
cargo build --no-default-features --target thumbv7em-none-eabihf
cargo build --no-default-features --features embassy-time --target thumbv7em-none-eabihf
cargo build --no-default-features --features embassy-time,alloc --target thumbv7em-none-eabihf
cargo hack build -p staggered --feature-powerset --include-features alloc,embassy-time,portable-atomic \
  --target thumbv7em-none-eabihf
echo "crate built for thumbv7em in $(( $(date +%s) - t0 ))s"

t0=$(date +%s)
cd examples/firmware
cargo fmt --check
cargo clippy --release --target thumbv7em-none-eabihf -- -D warnings
cargo build --release --target thumbv7em-none-eabihf
elf=target/thumbv7em-none-eabihf/release/staggered-firmware-example
test -s "$elf"
# A linked Cortex-M image: cortex-m-rt's reset handler and our SysTick handler are in it.
nm="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-nm"
"$nm" "$elf" >target/symbols.txt
grep -q " T Reset$" target/symbols.txt
grep -q " T SysTick$" target/symbols.txt
echo "firmware example built and linked in $(( $(date +%s) - t0 ))s: $(wc -c <"$elf") bytes (ELF)"

# Run it: the `qemu` feature reports over semihosting and exits 0 only if the race went as
# planned (winner, cancellation, start ticks).
t0=$(date +%s)
cargo clippy --release --target thumbv7em-none-eabihf --features qemu -- -D warnings
cargo build --release --target thumbv7em-none-eabihf --features qemu
timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -kernel "$elf"
echo "firmware example ran on QEMU mps2-an386 in $(( $(date +%s) - t0 ))s"
