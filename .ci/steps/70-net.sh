#!/usr/bin/env bash
# Happy Eyeballs (staggered::net): each runtime feature builds alone, the README's demo runs
# and shows its timeline, and the connect bench runs once per case. Loopback only; no network.
# Budget: every command is under `timeout`; about a minute when the build is warm.
set -euo pipefail
t0=$(date +%s)

# Feature hygiene: each runtime on its own, without the other or the default features.
timeout 600 cargo build --no-default-features --features net-tokio
timeout 600 cargo build --no-default-features --features net-async-io

# The demo, as the README runs it: no flags. It must connect to the good endpoint, and print
# a win, a refusal, cancellations and the capped sequential run.
out=$(timeout 300 cargo run --example demo)
echo "$out"
for want in "WON" "failed: Connection refused" "cancelled (socket closed)" "connected to 127.0.0.1:[0-9]* (good)" "(slow)  *WON" "stopped at the 3 s cap"; do
  if ! grep -q -- "$want" <<<"$out"; then
    echo "70-net: the demo's output lacks: $want" >&2
    exit 1
  fi
done

# The bench, once per case.
timeout 600 cargo bench --bench connect -- --quick

echo "70-net: done in $(( $(date +%s) - t0 ))s"
