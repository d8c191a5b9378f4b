"""How unevenly the GIL deals time: the chance that a unit sharing it with other threads is
still running at its timeout.

The simulator's cores are a fluid (processor sharing, :mod:`.simulator`): a unit among ``n``
runnable threads gets ``1 / n`` of the GIL, so its wall is ``n ×`` its CPU. That is the mean,
and it is what was measured (docs/benchmarks.md, section 7: the seed's threads). But CPython
hands the GIL over in switch intervals (``sys.getswitchinterval()``, 5 ms) to whichever waiting
thread the OS wakes first, not in turn: each interval may go to any of the ``n`` runnable
threads. A unit that needs ``k = CPU / interval`` intervals then ends after a negative-binomial
number of intervals — ``k`` successes, each interval a success with probability ``1 / n``;
mean ``k × n`` intervals, the fluid's wall — and some units wait far longer than the mean. With
a timeout ``T``, a unit times out when fewer than ``k`` of the ``T / interval`` intervals reach
it: 4 threads and 10 ms units under a 60 ms timeout (the seed's Phase 4) lose ~15 % of their
units, where the mean wall (40 ms) fits.

Processes are not modelled so: the OS scheduler (CFS/EEVDF) is fair, each core runs next the
runnable process that has received least, so a process's units get their share in turn and the
fluid's wall is the wall (measured: section 7, the seed's processes, no timeout at 2× stretch).
"""

from __future__ import annotations

import math

from scipy.stats import nbinom

#: CPython's default switch interval (``sys.getswitchinterval()``), seconds: how long a thread
#: holds the GIL while others wait before it is asked to drop it.
SWITCH_INTERVAL_S = 0.005


def late_probability(cpu_s: float, wait_s: float, timeout_s: float, share: float,
                     interval_s: float = SWITCH_INTERVAL_S) -> float:
    """Probability that a unit of ``cpu_s`` seconds of Python CPU (on the target machine) plus
    ``wait_s`` seconds off the CPU, getting ``share`` of the GIL on average (1 / the runnable
    threads), is still running at ``timeout_s`` seconds: fewer than ``cpu_s / interval_s`` of
    the ``(timeout_s - wait_s) / interval_s`` switch intervals go to it, each with probability
    ``share`` (see the module docstring)."""
    if not math.isfinite(timeout_s):
        return 0.0
    window_s = timeout_s - wait_s
    if cpu_s <= 0:
        return 0.0 if window_s > 0 else 1.0
    if window_s <= cpu_s:
        return 1.0
    if share >= 1.0:
        return 0.0
    need = cpu_s / interval_s
    # failures (intervals to other threads) the unit can afford before its last interval
    spare = window_s / interval_s - need
    return float(nbinom.sf(spare, need, share))
