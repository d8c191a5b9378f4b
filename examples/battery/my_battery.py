"""An example battery module in the shape of a generated one: ``batt(task_id, S, I, C, log_path)``
returns ``(o, s)``; every program runs in its own try/except, grids are tuples of tuples of ints.

Run it under perfkit (from the repository root; README "Your battery module")::

    PYTHONPATH=examples/battery perfkit compare --solver batt --solver-opt module=my_battery \\
        --tasks default --strategies sequential,sample-parallel
"""

#: The ids ``batt`` can return: what a sample that times out or fails is recorded as.
SOLVER_IDS = ("rot180", "mirror", "upside_down", "transpose", "twice_wide", "seven_to_five", "swap_5_8")


def rot180(g):
    return tuple(row[::-1] for row in g[::-1])


def mirror(g):
    return tuple(row[::-1] for row in g)


def upside_down(g):
    return tuple(g[::-1])


def transpose(g):
    return tuple(zip(*g))


def twice_wide(g):
    return tuple(row + row for row in g)


def recolour(g, mapping):
    return tuple(tuple(mapping.get(x, x) for x in row) for row in g)


PROGRAMS = {
    "rot180": rot180,
    "mirror": mirror,
    "upside_down": upside_down,
    "transpose": transpose,
    "twice_wide": twice_wide,
    "seven_to_five": lambda g: recolour(g, {7: 5}),
    "swap_5_8": lambda g: recolour(g, {5: 8, 8: 5}),
}


def batt(task_id, S, I, C, log_path):
    o = []
    s = []
    for t_n, solver_id in enumerate(SOLVER_IDS, start=1):
        program = PROGRAMS[solver_id]
        try:
            out = program(I)
            o.append((t_n, 0, solver_id, out))
        except Exception:
            continue
        try:
            s.append((t_n, solver_id, "demo_fit", sum(program(i) == x for i, x in S) / len(S)))
            if C is not None:
                s.append((t_n, solver_id, "match", out == C))
        except Exception:
            pass
    return o, s
