"""A user's strategy with a barrier after every sample (the shape of the built-in hybrid),
registered under its own name: its ideal bound must come from its plan, not from its name."""

from perfkit.strategies import Plan, auto_chunk_size, register


def stage_per_sample(samples, candidates, workers, chunk_size):
    """One stage per sample; the sample's candidates in chunks."""
    size = chunk_size or auto_chunk_size(len(candidates), workers)
    return Plan(stages=tuple(tuple(tuple((s, i, c) for c in candidates[k:k + size])
                                   for k in range(0, len(candidates), size)) for s, i in samples))


register("stage-per-sample", stage_per_sample)
