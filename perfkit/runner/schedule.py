"""Which job runs next: candidate generation and work items of several tasks, no barrier
between tasks, a strategy's stages in order inside each task (docs/design.md, "Strategies").

A run keeps a *window* of ``lookahead`` tasks open: the first unfinished task (the *frontier*)
and the ones after it. An open task first needs its candidates — a :class:`Generation` job,
run on a worker like any other job — then its plan's stages follow one another: stage s + 1 is
ready once every unit of stage s is recorded. Ready jobs wait in one priority queue:
generation first (it unlocks work), then work items by (task, stage), so the workers finish
the frontier task first and fill its tail — the end of a stage, the end of the task — with the
next task's work instead of idling. When the frontier task is done the window moves on.

The task list is iterated once, in order, as tasks enter the window (never ahead of it): a
caller that marks each task as it is taken (the instruction gate, perfkit/orchestration/
measured_run.py) sees the runner take them one after another.

Budgets are not the schedule's: every work item of a task carries the task's
:class:`perfkit.backends.Budget`, and the workers apply it (perfkit/backends/budget.py).

A strategy's automatic chunks shrink at the end of a stage (perfkit/model/plan.py ``tapered``)
so that the workers run out of work together. While later work is queued behind them — the next
task's, since tasks overlap — nobody runs out, and each piece only costs its own dispatch
(~0.5 ms of the parent's and the worker's CPU together on the main job, more than a 10-unit
piece's work; docs/benchmarks.md §9): ``pop`` then hands out consecutive pieces of one stage
joined, up to a few times the stage's largest item (``join_limit``), for a strategy that says it tapers
(``Strategy.tapers``: a plugin's small items may be deliberate). The last stage of the run keeps
its taper. The rule is perfkit/model/plan.py ``taper_joins``, which the simulator of perfkit
predict replays.

Every planned unit gets an integer *uid* (``WorkItem.uids``): recording a batch, the runner
counts the units of each stage with numpy over these integers, never unit by unit.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Optional, Sized, Union

import numpy as np

from perfkit.backends import Assignment, Budget, Generation
from perfkit.model import Task, TimeoutPolicy, WorkItem, join_limit, taper_joins

#: A task whose candidates() killed its worker this many times stops the run.
MAX_GENERATION_ATTEMPTS = 3


@dataclass
class TaskRun:
    """One task of the run as the schedule follows it."""

    index: int
    task: Task
    stages: list[list[WorkItem]] = field(default_factory=list)
    #: The stage whose items are queued or running; -1 while its candidates are unknown.
    stage: int = -1
    opened: bool = False
    done: bool = False
    error: Optional[str] = None
    #: The task's budgets, shared by its work items (None: the run has none).
    budget: Optional[Budget] = None
    #: Candidates the solver proposed (0 for an opaque solver).
    n_candidates: int = 0


@dataclass
class _Stage:
    task: TaskRun
    stage: int
    left: int


Ready = Union[Generation, Assignment]


class Schedule:
    """The run's jobs in the order they should start; see the module docstring.

    ``plan(task, candidates)`` returns a task's stages of unit tuples (the strategy's plan
    with units already recorded left out); ``sample_level`` says the solver is opaque (no
    generation: its plan needs no candidates); ``budget_of(task)`` gives a task its budgets
    when it is taken from ``tasks`` (in order).
    """

    def __init__(self, tasks: Iterable[Task], lookahead: int, policy: TimeoutPolicy,
                 plan: Callable[[Task, Optional[list[str]]], list[list[tuple]]], sample_level: bool,
                 budget_of: Callable[[Task], Optional[Budget]] = lambda task: None, join_taper: bool = False,
                 workers: int = 1, chunk_size: Optional[int] = None, first_chunk: int = 0):
        self._source = iter(tasks)
        #: How many tasks the run has, when the list says (it is never read ahead of the window).
        self._total = len(tasks) if isinstance(tasks, Sized) else None
        self._exhausted = False
        self._budget_of = budget_of
        #: The tasks taken from the list so far, in order.
        self.tasks: list[TaskRun] = []
        self._by_id: dict[str, TaskRun] = {}
        self.lookahead = max(1, lookahead)
        self.policy = policy
        self._plan = plan
        self.sample_level = sample_level
        self.frontier = 0
        self._heap: list[tuple[tuple, int, Ready, TaskRun, float]] = []
        self._seq = itertools.count()
        self._front = itertools.count(-1, -1)  # requeued jobs go before their equals
        self._chunk = first_chunk  # items are numbered from first_chunk + 1 (a resume: after the recorded)
        self._uids = 0
        self._stages: list[_Stage] = []
        self._stage_of = np.zeros(1024, dtype=np.int32)  # uid -> index in _stages
        self.opened: list[TaskRun] = []  # tasks newly planned, for the runner's observer
        #: Join a stage's shrunken pieces while later work is queued (the module docstring).
        self.join_taper = join_taper
        self.workers = workers
        self.chunk_size = chunk_size  # the user's, kept as the most an item holds (join_limit)
        self._join_limit: dict[tuple[int, int], int] = {}  # (task index, stage) -> units a joined item may hold

    # -- the window ---------------------------------------------------------------------------

    def open_window(self) -> None:
        """Take the tasks that enter the window from the list and open them: queue each one's
        generation (or plan it at once)."""
        while not self._exhausted and len(self.tasks) < self.frontier + self.lookahead:
            task = next(self._source, None)
            if task is None:
                self._exhausted = True
                break
            t = TaskRun(len(self.tasks), task, budget=self._budget_of(task))
            self.tasks.append(t)
            self._by_id.setdefault(task.id, t)
        for t in self.tasks[self.frontier:self.frontier + self.lookahead]:
            if not t.opened:
                t.opened = True
                if self.sample_level:
                    self.candidates(t, None)
                else:
                    self._push((0, t.index), Generation(t.task.id), t)

    def finished(self) -> bool:
        """True when every task is done."""
        return self._exhausted and self.frontier >= len(self.tasks)

    def failure(self) -> Optional[str]:
        """Why the run must stop now: the frontier task has no candidates (the tasks before it
        are done, so the run stops where a serial run would have)."""
        if self.frontier < len(self.tasks) and self.tasks[self.frontier].error:
            t = self.tasks[self.frontier]
            return f"task {t.task.id!r}: {t.error}"
        return None

    def task_of(self, task_id: str) -> TaskRun:
        """The task run of ``task_id``."""
        return self._by_id[task_id]

    # -- candidates and plans -------------------------------------------------------------

    def candidates(self, t: TaskRun, candidates: Optional[list[str]], error: Optional[str] = None) -> None:
        """A task's candidates arrived (None for an opaque solver): plan it and queue stage 0."""
        if error is not None:
            t.error = error
            return
        t.n_candidates = len(candidates) if candidates is not None else 0
        stages = self._plan(t.task, candidates)
        for stage_index, stage in enumerate(stages):
            items = []
            for units in stage:
                self._chunk += 1
                if units:
                    uids = range(self._uids, self._uids + len(units))
                    self._uids += len(units)
                    items.append(WorkItem(self._chunk, t.task.id, tuple(units), self.sample_level, stage_index,
                                          uids))
            t.stages.append(items)
        self.opened.append(t)
        self._next_stage(t)

    def generation_lost(self, t: TaskRun, job: Generation) -> None:
        """The worker generating ``t``'s candidates was lost: try again, up to a limit."""
        if job.attempt > MAX_GENERATION_ATTEMPTS:
            t.error = f"the solver's candidates() killed its worker {MAX_GENERATION_ATTEMPTS} times"
        else:
            self._push((0, t.index), job, t, front=True)

    def _next_stage(self, t: TaskRun) -> None:
        """Queue the next stage of ``t`` that has units; mark it done when none is left."""
        while True:
            t.stage += 1
            if t.stage >= len(t.stages):
                t.done = True
                self._advance()
                return
            items = t.stages[t.stage]
            if items:
                break
        index = len(self._stages)
        self._stages.append(_Stage(t, t.stage, sum(len(i.units) for i in items)))
        self._join_limit[(t.index, t.stage)] = join_limit(max(len(i.units) for i in items), self._stages[-1].left,
                                                          self.workers, self.chunk_size)
        top = items[-1].uids[-1] + 1
        if top > len(self._stage_of):
            self._stage_of = np.resize(self._stage_of, max(top, 2 * len(self._stage_of)))
        now = time.monotonic()
        for item in items:
            self._stage_of[item.uids[0]:item.uids[-1] + 1] = index
            self._push((1, t.index, t.stage), item, t, queued=now)

    def _advance(self) -> None:
        while self.frontier < len(self.tasks) and self.tasks[self.frontier].done:
            self.frontier += 1
        self.open_window()

    # -- the queue ----------------------------------------------------------------------------

    def _push(self, priority: tuple, job: Any, t: TaskRun, front: bool = False, queued: float = 0.0,
              seq: Optional[int] = None) -> None:
        if seq is None:
            seq = next(self._front) if front else next(self._seq)
        heapq.heappush(self._heap, (priority, seq, job, t, queued))

    def requeue(self, jobs: list[Any]) -> None:
        """Jobs a lost worker held: first in line among their equals, in the order given (a
        lost item's re-run before its rest: Assignment.after_loss)."""
        fronts = sorted(next(self._front) for _ in jobs)  # the first job gets the most negative
        for job, seq in zip(jobs, fronts):
            if isinstance(job, Generation):
                self.generation_lost(self.task_of(job.task_id), job)
            else:
                t = self.task_of(job.item.task_id)
                self._push((1, t.index, job.item.stage), job, t, seq=seq)

    def ready(self) -> int:
        """Jobs ready to start (waiting for a free worker)."""
        return len(self._heap)

    def pop(self) -> Optional[tuple[Task, Ready]]:
        """The next job to start and its task, or None when nothing is ready. A work item
        becomes an Assignment here, under its task's budgets."""
        if not self._heap:
            return None
        priority, _seq, job, t, queued = heapq.heappop(self._heap)
        if isinstance(job, WorkItem):
            if self.join_taper and t.budget is None:
                job = self._joined(job, priority, t)
            job = Assignment(job, queued, self.policy.unit_timeout_s, budget=t.budget)
        return t.task, job

    def _joined(self, item: WorkItem, priority: tuple, t: TaskRun) -> WorkItem:
        """``item`` and the pieces queued right after it in its stage, joined (up to the
        stage's ``join_limit`` in units), while work of a later task is queued or still to come
        (the module docstring); ``item`` itself otherwise. Requeued jobs (Assignments) are never
        joined."""
        if item.sample_level:
            return item
        limit = self._join_limit.get((t.index, item.stage), 0)
        pieces, held, heap, later = [item], len(item.units), self._heap, None
        while heap and heap[0][0] == priority and isinstance(heap[0][2], WorkItem):
            if later is None:
                later = self._later_work(t)
            if not taper_joins(held, len(heap[0][2].units), limit, later):
                break
            pieces.append(heapq.heappop(heap)[2])
            held += len(pieces[-1].units)
        if len(pieces) == 1:
            return item
        units = [u for piece in pieces for u in piece.units]
        uids = [uid for piece in pieces for uid in piece.uids]
        contiguous = bool(uids) and uids[-1] - uids[0] + 1 == len(uids)
        chunks = tuple(piece.chunk for piece in pieces for _ in piece.units)  # each unit keeps its planned item
        return replace(item, units=tuple(units), uids=range(uids[0], uids[-1] + 1) if contiguous else tuple(uids),
                       chunks=chunks)

    def _later_work(self, t: TaskRun) -> bool:
        """Whether work of a task after ``t`` is queued or still to come (its candidates, or a
        task not taken from the list yet; a task list without a length may end anywhere)."""
        if any(not later.done for later in self.tasks[t.index + 1:]):
            return True
        return len(self.tasks) < self._total if self._total is not None else not self._exhausted

    # -- progress -----------------------------------------------------------------------------

    def recorded(self, uids: np.ndarray) -> None:
        """Units (unique uids) got their outcome: count them off their stages; a stage done
        queues the next one, a task done moves the window."""
        if not len(uids):
            return
        of = self._stage_of[uids]
        if of[0] == of[-1] and (of == of[0]).all():  # the common case: one stage
            counted = [(int(of[0]), len(of))]
        else:
            stages, counts = np.unique(of, return_counts=True)
            counted = list(zip(stages.tolist(), counts.tolist()))
        for index, n in counted:
            s = self._stages[index]
            s.left -= n
            if s.left == 0 and s.stage == s.task.stage:
                self._next_stage(s.task)

    @property
    def planned_units(self) -> int:
        return self._uids


def unit_filter(done: set[tuple], sample_level: bool) -> Callable[[str, tuple], bool]:
    """``todo(task_id, unit)``: False for a unit already recorded (resume); an opaque sample is
    done once any of its outcomes is in (the solver, not a candidate id, says which)."""
    def todo(task_id: str, unit: tuple) -> bool:
        split, index, candidate = unit
        if sample_level:
            return (task_id, split, index) not in done
        return (task_id, split, index, candidate) not in done
    return todo
