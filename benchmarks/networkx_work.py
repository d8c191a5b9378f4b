"""A third-party workload on networkx (pure Python, written by nobody here): graph questions as a
candidate search, each answered by networkx's own algorithms and heuristics.

Each task is one question, written as an ARC task file; each sample one graph, built
deterministically from the digits of its 1×3 input grid (family, size, seed), its output the
expected answer as a row of digits. Candidates are networkx functions answering that question:

- ``hops``: the sum of hop distances from node 0 to every node it reaches (6 digits). Every
  candidate is exact; they differ in cost only (``floyd_warshall`` in pure Python is O(n³),
  ``all_pairs`` keeps n² distances);
- ``colour``: how many colours a proper colouring uses (2 digits), against the fewest any
  deterministic strategy of ``greedy_color`` finds (DSATUR, mostly);
- ``community``: how many communities a detection method finds (2 digits), against the number
  of groups the graph was planted with.

Nobody here wrote networkx, and it has the quirks of a real solver:

- a few candidates dominate the cost: ``independent_set`` and ``saturation_largest_first``
  colouring, ``girvan_newman``, ``floyd_warshall`` (in Python), ``floyd_warshall_numpy`` and
  ``astar`` (one A* search per node) grow as n² to n³ and take ~85 % of a sequential run (~21 s);
  the others stay at a few milliseconds. At a 1 s timeout 9 units time out and ~10 more take
  0.5–1 s;
- unseeded randomness: ``random_sequential``, ``louvain``, ``asyn_lpa`` and ``asyn_fluidc`` draw
  from the process's ``random`` module (seeded afresh in every interpreter), so their answers
  may differ from one process to another;
- a memory spike on the 1400-node graph: ``floyd_warshall``'s n² distances reach ~200 MB of
  resident memory before its timeout stops it, ``all_pairs`` ~140 MB, finishing near the timeout
  (~55 MB before either);
- errors on some families: ``astar`` raises NetworkXNoPath on the disconnected ``gnp`` graphs
  and ``asyn_fluidc`` NetworkXError ("Fluid Communities require connected Graphs") on the
  disconnected ``islands``;
- a solver's own cache: each worker builds a sample's graph once (``graph()``'s lru_cache), so
  the first unit of a sample on a worker pays for it.

Run it as docs/benchmarks.md, "Session 12: networkx", does::

    .venv/bin/python benchmarks/networkx_work.py tasks /tmp/nx-tasks       # writes 3 task files
    PYTHONPATH=benchmarks perfkit compare --solver networkx_work:NetworkxSolver --tasks /tmp/nx-tasks \\
        --strategies sequential,sample-parallel,candidate-parallel,hybrid --backends process,thread \\
        --workers 2 --repeats 2 --timeout 1.0 --allow-differences
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import networkx as nx
import numpy as np
from networkx.algorithms import community

# a sibling module: benchmarks/ is on sys.path when a workload runs as a script or a solver
import task_files

#: Graph sizes (nodes) by the size digit of a sample's input.
SIZES = (60, 120, 200, 400, 800, 1400)
#: Groups planted in the community families, by the seed digit (the answer ``community`` wants).
GROUPS = (3, 4, 5, 6, 7, 8, 4, 5, 6, 7)


def _grid(n: int, seed: int) -> nx.Graph:
    side = max(int(math.isqrt(n)), 2)
    return nx.convert_node_labels_to_integers(nx.grid_2d_graph(side, side))


def _planted(n: int, seed: int) -> nx.Graph:
    k = GROUPS[seed]
    size = n // k
    return nx.random_partition_graph([size] * k, min(12 / size, 0.9), 0.4 / n, seed=seed)


def _caveman(n: int, seed: int) -> nx.Graph:
    k = GROUPS[seed]
    return nx.connected_caveman_graph(k, max(n // k, 4))


def _islands(n: int, seed: int) -> nx.Graph:
    """k dense random graphs with no edge between them: disconnected on purpose."""
    k = GROUPS[seed]
    size = n // k
    return nx.random_partition_graph([size] * k, min(10 / size, 0.9), 0.0, seed=seed)


#: Graph families by the family digit of a sample's input: (name, builder(nodes, seed)).
FAMILIES: tuple[tuple[str, Callable[[int, int], nx.Graph]], ...] = (
    ("grid", _grid),
    ("barabasi_albert", lambda n, s: nx.barabasi_albert_graph(n, 3, seed=s)),
    ("watts_strogatz", lambda n, s: nx.connected_watts_strogatz_graph(n, 6, 0.1, seed=s)),
    ("gnp", lambda n, s: nx.fast_gnp_random_graph(n, 1.5 / n, seed=s)),  # disconnected
    ("tree", lambda n, s: nx.random_labeled_tree(n, seed=s)),
    ("planted", _planted),
    ("caveman", _caveman),
    ("islands", _islands),
)


@functools.lru_cache(maxsize=64)
def graph(family: int, size: int, seed: int) -> nx.Graph:
    """The graph a sample's digits name: FAMILIES[family] on SIZES[size] nodes from ``seed``."""
    return FAMILIES[family][1](SIZES[size], seed)


def _hop_sum(lengths) -> int:
    return int(sum(v for v in lengths if math.isfinite(v)))


def _astar(g: nx.Graph) -> int:
    # one A* search per node (a zero heuristic): raises NetworkXNoPath where a node is unreachable
    return sum(nx.astar_path_length(g, 0, v) for v in g)


def _fw_numpy(g: nx.Graph) -> int:
    return _hop_sum(nx.floyd_warshall_numpy(g, nodelist=sorted(g))[0])


HOPS: dict[str, Callable[[nx.Graph], int]] = {
    "bfs": lambda g: sum(nx.single_source_shortest_path_length(g, 0).values()),
    "dijkstra": lambda g: sum(nx.single_source_dijkstra_path_length(g, 0).values()),
    "bellman_ford": lambda g: sum(nx.single_source_bellman_ford_path_length(g, 0).values()),
    "goldberg_radzik": lambda g: sum(nx.goldberg_radzik(g, 0)[1].values()),
    "astar": _astar,
    "floyd_warshall": lambda g: _hop_sum(nx.floyd_warshall(g)[0].values()),
    "floyd_warshall_numpy": _fw_numpy,
    "all_pairs": lambda g: sum(dict(nx.all_pairs_shortest_path_length(g))[0].values()),
}


def _colours(strategy: str) -> Callable[[nx.Graph], int]:
    return lambda g: len(set(nx.greedy_color(g, strategy=strategy).values()))


#: ``random_sequential`` without a seed: networkx draws from the global ``random`` module.
COLOUR: dict[str, Callable[[nx.Graph], int]] = {
    s: _colours(s) for s in ("largest_first", "smallest_last", "connected_sequential_bfs",
                             "connected_sequential_dfs", "saturation_largest_first",
                             "independent_set", "random_sequential")}
DETERMINISTIC_COLOUR = [s for s in COLOUR if s != "random_sequential"]


def _fluid(g: nx.Graph) -> int:
    # the planted count is what the question asks for, so fluid is told it: it cannot be wrong
    # by count, only raise (a disconnected graph) or not
    k = _planted_groups(g)
    return len(list(community.asyn_fluidc(g, k)))


def _girvan_newman(g: nx.Graph) -> int:
    # splits until the modularity stops growing: every split recomputes edge betweenness
    best, best_q = 1, -1.0
    for parts in community.girvan_newman(g):
        q = community.modularity(g, parts)
        if q <= best_q:
            break
        best, best_q = len(parts), q
    return best


COMMUNITY: dict[str, Callable[[nx.Graph], int]] = {
    "louvain": lambda g: len(community.louvain_communities(g)),
    "asyn_lpa": lambda g: len(list(community.asyn_lpa_communities(g))),
    "label_propagation": lambda g: len(list(community.label_propagation_communities(g))),
    "greedy_modularity": lambda g: len(community.greedy_modularity_communities(g)),
    "asyn_fluidc": _fluid,
    "kernighan_lin": lambda g: len(community.kernighan_lin_bisection(g)),
    "girvan_newman": _girvan_newman,
}

#: Task id (the task file's stem) → (candidates, digits of the answer).
QUESTIONS: dict[str, tuple[dict[str, Callable[[nx.Graph], int]], int]] = {
    "hops": (HOPS, 6),
    "colour": (COLOUR, 2),
    "community": (COMMUNITY, 2),
}


def _planted_groups(g: nx.Graph) -> int:
    return int(g.graph["groups"])


def digits(value: int, width: int) -> np.ndarray:
    """``value`` as a 1×``width`` grid of its last ``width`` decimal digits."""
    return np.array([[int(d) for d in f"{int(value) % 10 ** width:0{width}d}"]], dtype=np.uint8)


def sample_graph(grid) -> nx.Graph:
    """The graph of a sample's 1×3 input grid, with its planted group count in ``.graph``."""
    family, size, seed = (int(v) for v in np.asarray(grid).ravel()[:3])
    g = graph(family, size, seed)
    g.graph.setdefault("groups", GROUPS[seed])
    return g


#: ``fast=1``: the pure-Python Floyd–Warshall runs as networkx's numpy one (same answers; the
#: candidate ids stay the same, so answers compare): an optimisation step for ``perfkit phases``.
FAST = {"floyd_warshall": _fw_numpy}


class NetworkxSolver:
    """perfkit's view: a task's candidates are its question's networkx functions; a unit runs
    one of them on one sample's graph and answers with the digits of its result."""

    def __init__(self, fast: int = 0):
        self.fast = bool(int(fast))

    def candidates(self, task):
        return list(QUESTIONS[task.id][0])

    def evaluate(self, task, sample, candidate, deadline):
        answers, width = QUESTIONS[task.id]
        answer = (FAST.get(candidate) if self.fast else None) or answers[candidate]
        return digits(answer(sample_graph(sample.input)), width)


#: The samples of each task: (family, size, seed), six demo then two test.
SAMPLES = {
    "hops": [(1, 1, 1), (0, 2, 2), (2, 1, 3), (3, 1, 4), (4, 2, 5), (1, 5, 6), (0, 1, 7), (2, 4, 8)],
    "colour": [(1, 2, 1), (2, 3, 2), (5, 4, 3), (3, 4, 4), (0, 4, 5), (6, 2, 7), (1, 3, 6), (2, 5, 8)],
    "community": [(5, 1, 0), (6, 1, 1), (7, 1, 2), (5, 1, 3), (6, 2, 4), (7, 3, 5), (5, 4, 6), (5, 1, 9)],
}
DEMO = 6


def expected(question: str, g: nx.Graph) -> int:
    """The answer a sample's output holds: exact hops (BFS), the fewest colours of any
    deterministic strategy, the planted group count."""
    if question == "hops":
        return HOPS["bfs"](g)
    if question == "colour":
        return min(COLOUR[s](g) for s in DETERMINISTIC_COLOUR)
    return _planted_groups(g)


def task_json(question: str) -> dict:
    """The task file of ``question``: its samples' input digits and expected answers."""
    width = QUESTIONS[question][1]
    samples = [{"input": [list(s)], "output": digits(expected(question, sample_graph([s])), width).tolist()}
               for s in SAMPLES[question]]
    return {"train": samples[:DEMO], "test": samples[DEMO:]}


if __name__ == "__main__":
    task_files.main(__doc__.splitlines()[0], QUESTIONS, task_json)
