"""Per-run and per-group figures, computed once here and only rendered elsewhere.

Every function is pure: stored runs (``perfkit.store.Run``: ``meta``, ``summary``, ``units``)
in, plain dataclasses or DataFrames out. All times are seconds; fractions are 0..1.

Definitions (docs/design.md, "Figures"):

- ``parallelism = cpu_s / wall_s`` (run CPU of parent + workers over run wall).
- ``slots = min(workers, usable cores)``: how many units can truly run at once (1 for sequential,
  and 1 on the inline backend, which runs every work item in the calling thread whatever its
  ``workers``).
- ``dispatch_overhead = 1 - (Σ unit wall + generate_s) / (wall_s × slots)``: the fraction of the
  run's worker capacity spent outside the solver's work (serialisation, queueing, idle workers,
  barriers); candidate generation runs on the workers like the units and is its own figure,
  ``generate_s``.
- ``contention = Σ unit wall / Σ unit CPU`` over units that ran with a measured CPU: 1.0 means
  a unit had its core to itself; 2.0 means it got half a core (oversubscription, GIL, memory
  bandwidth). A unit whose CPU was not recorded is left out, never counted as 0 % of a core.
- ``others_cores``: cores other processes of the machine used on average during the run
  (summary ``others_cpu_s`` / wall): a busy machine makes every figure slower.
- ``queue wait = started - queued`` per unit (median, p95, max).
- ``ideal_wall_s``: the physical lower bound. The *work* of a unit is its CPU in the sequential
  reference run, or its own CPU when that is less or no reference is given (:func:`unit_work`);
  the solver's candidate generation
  (``candidates(task)``) is work too, done on the workers, and counts the same way: its CPU in
  the reference run (:func:`generation_work`; summary ``generate_cpu_s``), not its wall, which a
  loaded machine or two generations sharing a core inflate (docs/benchmarks.md §9). A strategy's barriers split a task into stages (each unit records its ``stage`` and
  its work item, ``chunk``, as the strategy's plan made them) that run one after another, but
  tasks need no barrier between them: the next task's work may fill a stage's tail. So no
  schedule beats either ``(work + generation) / slots`` or, for any one task,
  ``Σ over its stages of max(stage work / slots, largest work item of the stage)`` (a work item
  runs on one worker); the bound is the larger of the two. With one task and one stage this is
  ``max(work / slots, critical path)`` of docs/design.md. A unit's CPU needs the cores and its
  lane time (:func:`unit_lane`: less than its CPU when it computes on several threads at once) a
  worker, so each even share is ``max(work / cores, held / lanes)`` (:func:`even_share_s`), which
  is ``work / slots`` for units on one thread. Built-in and user strategies get their
  bound from their plans alike. Units that wait (:func:`unit_wait`: sleep, I/O, a GPU, measured in
  a quiet sequential reference) hold a worker, not a core, while they wait: each also needs
  ``(CPU + wait) / workers``, and an item its CPU + wait; a run without waiting units keeps the
  bound above (workers ≥ slots).
- ``efficiency = ideal_wall_s / wall_s`` (1.0 = at the physical limit).
- ``speedup = median sequential wall / median wall``, with a seeded bootstrap 95 % interval
  (perfkit/analysis/statistics.py).
- where the time goes (:func:`cost_by`): the unit wall time of the sequential reference summed
  by candidate, sample or task, most expensive first, with each one's share, the cumulative
  share (a Pareto table) and how much of it went to units that timed out. Each unit counts
  with its least disturbed (fastest) reference run (:func:`least_disturbed`), so a unit that
  timed out once because the machine was busy does not pass for an expensive one.

One module per idea (its docstring says which); callers import a name from the module that
owns it:

- ``records``: ``KEY``, ``SAMPLE``, ``ran``, ``measured``, ``summary_figure``
- ``machine``: ``BUSY_OTHER_CORES``, ``ran_quiet``, ``others_cores``
- ``slots``: ``INLINE``, ``lanes_of``, ``slots_of``, ``slot_lanes``, ``busy_by_slot``
- ``dispatch``: ``stage_tail_idle_s``, ``queue_wait``, ``dispatch_overhead``, ``work_items``
- ``gil``: ``SWITCH_INTERVAL_S``, ``gil_holders``, ``gil_wait_s``, ``held_by_others``
- ``contention``: ``core_share``, ``life_share``, ``contention``
- ``neighbours``: ``worker_position``, ``NEIGHBOURS``, ``neighbour_level``
- ``stopped``: ``beside_given_up``, ``after_stopped``
- ``reference``: ``reference_cost``, ``cost_against_reference``, ``reference_lookup``
- ``bound``: ``WAITING_CONTENTION``, ``unit_work``, ``unit_wait``, ``even_share_s``, ``unit_lane``,
  ``ideal_bound``, ``generation_work``, ``waits_from``
- ``unit_cpu``: ``THREAD_CPU``, ``SEEN_ELSEWHERE``, ``unit_cpu_of``, ``missed_cpu``, ``seen_whole``
- ``memory``: ``memory_figures``, ``item_memory``
- ``solved``: ``tasks_solved``
- ``run``: ``RunFigures``, ``group_name``, ``run_figures``, ``LOST_WORKER_ERRORS``,
  ``figures_table``
- ``groups``: ``REPEATED``, ``SPEEDUP_CONFIDENCE``, ``group_figures``
- ``cost``: ``least_disturbed``, ``COST_KEYS``, ``cost_by``
"""
