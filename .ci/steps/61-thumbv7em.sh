#!/usr/bin/env bash
# Bare metal: the crate builds for thumbv7em-none-eabihf in every combination of its no_std
# features (alloc, embassy-time, portable-atomic), and the firmware example
# (examples/firmware: no_std, no_main, its own Timer, no heap: `staggered_race_array` with
# staggered built without `alloc`, and no allocator) builds and links with nothing of `alloc`
# in it, and runs on QEMU's Cortex-M4 board model, where it checks its own outcome and timings.
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
# No heap: staggered is built without its `alloc` feature...
if cargo tree -e features -i staggered --target thumbv7em-none-eabihf --features qemu |
  grep -q 'staggered feature "alloc"'; then
  echo "the firmware example enables staggered's alloc feature" >&2
  exit 1
fi
elf=target/thumbv7em-none-eabihf/release/staggered-firmware-example
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
check_elf() {
  test -s "$elf"
  "$bin/llvm-nm" "$elf" >target/symbols.txt
  # A linked Cortex-M image: cortex-m-rt's reset handler and our SysTick handler are in it...
  grep -q " T Reset$" target/symbols.txt
  grep -q " T SysTick$" target/symbols.txt
  # ...and nothing of the `alloc` crate, nor an allocator.
  if grep -E '_ZN5alloc|C(s[0-9A-Za-z]*_)?5alloc[0-9]|__rust_(no_)?alloc|__rg_alloc' target/symbols.txt; then
    echo "the firmware example links the alloc crate or an allocator" >&2
    exit 1
  fi
  "$bin/llvm-size" "$elf"
}
cargo clippy --release --target thumbv7em-none-eabihf -- -D warnings
cargo build --release --target thumbv7em-none-eabihf
check_elf
echo "firmware example built and linked in $(( $(date +%s) - t0 ))s: $(wc -c <"$elf") bytes (ELF)"

# Run it: the `qemu` feature reports over semihosting and exits 0 only if the race went as
# planned (winner, cancellation, start ticks).
t0=$(date +%s)
cargo clippy --release --target thumbv7em-none-eabihf --features qemu -- -D warnings
cargo build --release --target thumbv7em-none-eabihf --features qemu
check_elf
timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
  -semihosting-config enable=on,target=native -kernel "$elf"
echo "firmware example ran on QEMU mps2-an386 in $(( $(date +%s) - t0 ))s"
