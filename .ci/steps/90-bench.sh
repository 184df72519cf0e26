#!/usr/bin/env bash
# Issue 5: the peer benchmarks keep compiling and running. Quick mode (fewer, shorter
# samples) runs the whole bench in well under two minutes on 2 cores and still writes
# target/peers.json, checked here for every scenario, N and implementation.
set -euo pipefail
t0=$(date +%s)
out="${CARGO_TARGET_DIR:-target}"
rm -f "$out/peers.json"
PEERS_QUICK=1 timeout 600 cargo bench --bench peers
PEERS_JSON="$out/peers.json" python3 - <<'PY'
import json, os
rows = json.load(open(os.environ["PEERS_JSON"]))
seen = {(r["scenario"], r["n"], r["implementation"]) for r in rows}
assert all(r["ns_per_op"] > 0 for r in rows), "every figure is positive"
peers = ["staggered", "futures_unordered", "select_ok", "race_ok", "joinset"]
want = {("lifecycle", n, i) for n in (1, 10, 1000, 100000) for i in peers}
want |= {("wake", n, i) for n in (1, 10, 100, 1000, 10000) for i in peers}
want |= {("fallthrough", n, i) for n in (2, 4, 8, 16) for i in peers}
want |= {("stale", n, i) for n in (100, 1000) for i in ("staggered", "futures_unordered")}
want |= {("lifecycle", 1, "floor"), ("fallthrough", 2, "floor"), ("lifecycle", 1000, "cpython")}
# Issue 10: the race with no heap, on every row whose N it can take at compile time.
want |= {("lifecycle", n, "staggered_array") for n in (1, 10)}
want |= {("wake", n, "staggered_array") for n in (1, 10, 100)}
want |= {("fallthrough", n, "staggered_array") for n in (2, 4, 8, 16)}
missing = sorted(want - seen)
assert not missing, f"missing from target/peers.json: {missing}"
print(f"target/peers.json: {len(rows)} figures, every scenario, N and implementation present")
PY
test -s "$out/peers-wake.svg"

# Instructions per race under callgrind (valgrind comes with 82-valgrind.sh): the same on
# every run of the same build, whatever the load. Each scenario's row must be there.
table=$(timeout 300 cargo bench --bench instructions)
echo "$table"
# Columns: staggered, staggered_array, then floor, futures_unordered, select_ok, race_ok (or
# "-" where a peer does not run the scenario).
for row in "lifecycle *1 " "p-lifecycle *1 " "p-fallthrough *2 " "p-fallthrough *16 " \
  "p-wake *1 " "p-wake *10 " "p-wake *100 " "fallthrough *2 " "fallthrough *16 " "tie *100 "; do
  grep -Eq "^$row *[0-9]+ +[0-9]+( +([0-9]+|-)){4}$" <<<"$table" \
    || { echo "90-bench: the instructions table lacks its row $row" >&2; exit 1; }
done
echo "90-bench: $(( $(date +%s) - t0 ))s"
