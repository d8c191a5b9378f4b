"""A third-party workload for benchmarks/backends.py ``thirdparty``: rendering Markdown with
markdown-it-py (pure Python, written by nobody here), as perfkit units and as plain function
calls for a hand-written ``ProcessPoolExecutor``.

Unit (sample s, candidate c) renders a document of ``chars[s, c]`` characters, sizes drawn once
from a seeded generator: ``uniform`` between ``low`` and ``high`` characters (units of a few
milliseconds), or ``log``-uniform (heavy-tailed: most units tiny, a few long).
"""

from __future__ import annotations

import numpy as np
from markdown_it import MarkdownIt

PARAGRAPH = ("Some *emphasis* and **strong** text with `code` and a [link](https://example.org/a/b) in it, "
             "then more plain words.\n\n- an item\n- another item with _emphasis_\n\n")


def sizes(samples: int, candidates: int, low: int, high: int, spread: str, seed: int = 0) -> np.ndarray:
    """Characters of each unit's document, shape (samples, candidates)."""
    rng = np.random.default_rng(seed)
    if spread == "log":
        return np.exp(rng.uniform(np.log(low), np.log(high), (samples, candidates))).astype(int)
    return rng.integers(low, high, (samples, candidates))


class MarkdownSolver:
    """perfkit's view of the workload: candidates ``d0000``…, each unit renders its document."""

    def __init__(self, samples: int = 10, candidates: int = 200, low: int = 1500, high: int = 9000,
                 spread: str = "uniform"):
        self.chars = sizes(samples, candidates, low, high, spread)
        self.ids = [f"d{i:04d}" for i in range(candidates)]
        self.text = PARAGRAPH * (int(self.chars.max()) // len(PARAGRAPH) + 1)
        self.md = MarkdownIt()

    def candidates(self, task):
        return self.ids

    def evaluate(self, task, sample, candidate, deadline):
        return render(self.md, self.text, int(self.chars[sample.index, int(candidate[1:])]))


def render(md: MarkdownIt, text: str, chars: int) -> np.ndarray:
    """Render the first ``chars`` characters; a 1×1 grid of the HTML's length mod 10."""
    return np.array([[len(md.render(text[:chars])) % 10]], dtype=np.uint8)
