"""A user's strategy, registered from outside perfkit (imported with --plugin)."""

from perfkit.strategies import Plan, register


def reversed_candidates(samples, candidates, workers, chunk_size):
    """Candidates in reverse order, one work item per sample."""
    return Plan(stages=(tuple(tuple((s, i, c) for c in reversed(candidates)) for s, i in samples),))


register("reversed", reversed_candidates)
