"""Tasks and samples: what a solver is asked to solve (docs/design.md, "Vocabulary")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

Split = Literal["demo", "test"]


@dataclass(frozen=True)
class Sample:
    """One (task_id, split, index) with its grids; ``output`` is None when unknown."""

    task_id: str
    split: Split
    index: int
    input: np.ndarray
    output: Optional[np.ndarray] = None

    @property
    def key(self) -> str:
        """Readable label such as ``demo[4]``."""
        return sample_label(self.split, self.index)


def sample_label(split: str, index: int, task_id: Optional[str] = None) -> str:
    """``demo[4]``, or ``task/demo[4]`` when ``task_id`` is given."""
    return (f"{task_id}/" if task_id else "") + f"{split}[{int(index)}]"


@dataclass(frozen=True)
class Task:
    """An ARC-format task: demo (ARC's ``train``) and test samples."""

    id: str
    demo: tuple[Sample, ...]
    test: tuple[Sample, ...]
    source: str = ""

    @property
    def samples(self) -> tuple[Sample, ...]:
        """Demo samples first, then test samples: the order every strategy walks."""
        return self.demo + self.test

    def sample(self, split: str, index: int) -> Sample:
        """The sample ``split[index]``."""
        return (self.demo if split == "demo" else self.test)[index]
