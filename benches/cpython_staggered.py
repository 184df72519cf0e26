"""CPython's asyncio.staggered.staggered_race on the `lifecycle` scenario of benches/peers.

Usage: python3 benches/cpython_staggered.py N REPS

N attempts that each fail at once, then one that wins, with a 250 ms delay (never reached:
each failure starts the next attempt). Each repetition times one whole race, from the call to
its return, with time.perf_counter_ns inside one running event loop. Prints
`ns_per_op <median race time / (N + 1)>`, the cost per attempt, which the Rust bench parses.
"""

import asyncio
import statistics
import sys
import time
from asyncio.staggered import staggered_race


async def fail():
    raise OSError("refused")


async def win():
    return "connected"


async def main(n, reps):
    fns = [fail] * n + [win]
    times = []
    for rep in range(reps + 1):
        t0 = time.perf_counter_ns()
        result, index, exceptions = await staggered_race(fns, 0.25)
        elapsed = time.perf_counter_ns() - t0
        assert result == "connected" and index == n and len(exceptions) == n + 1
        if rep > 0:  # the first one warms up
            times.append(elapsed)
    median = statistics.median(times)
    print(f"ns_per_op {median / (n + 1):.1f}")
    print(f"python {sys.version.split()[0]}, {reps} races of {n + 1} attempts, "
          f"median race {median / 1e6:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
