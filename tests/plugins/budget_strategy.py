"""A user's strategy that spreads one sample over two workers at different times: the first
sample's first unit alone, then an item that starts the second sample before coming back to
the first one. With two workers the first sample's later unit starts on a worker that never
ran that sample before; a sample budget must still count from the sample's first start."""

from perfkit.strategies import Plan, register


def cross_worker(samples, candidates, workers, chunk_size):
    """Items [s0 c0], [s0 c1], [s1 c0], [s0 c2] (then the rest of every sample, one item each)."""
    (s0, i0), (s1, i1) = samples[0], samples[1]
    first = [((s0, i0, candidates[0]),), ((s0, i0, candidates[1]),), ((s1, i1, candidates[0]),),
             ((s0, i0, candidates[2]),)]
    taken = {u for item in first for u in item}
    rest = [((s, i, c),) for s, i in samples for c in candidates if (s, i, c) not in taken]
    return Plan(stages=(tuple(first + rest),))


register("cross-worker", cross_worker)
