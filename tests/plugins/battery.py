"""A small generated-style battery, the shape of a user's generated module (tests and the
README's compare command): ``batt(task_id, S, I, C, log_path) -> (o, s)``, every step in its
own try/except, several solver ids, one that always raises, one that is slow on one sample,
one that returns two outputs, one that checks that every cell is a Python int.
"""

import time

SOLVER_IDS = ("identity", "rot90", "flip", "fails", "ints_only", "twice", "slow")

#: (task_id, demo index) of the samples on which the ``slow`` program takes SLOW_S seconds,
#: like demo[4] in the seed's account: 67a3c6ac is one of perfkit's default tasks.
SLOW_SAMPLES = {("67a3c6ac", 1), ("slow", 1)}
SLOW_S = 5.0


def rot90(g):
    """A quarter turn counter-clockwise, like numpy.rot90."""
    return tuple(zip(*g))[::-1]


def flip(g):
    return tuple(g[::-1])


def ints_only(g):
    for row in g:
        for x in row:
            if not isinstance(x, int):
                raise TypeError(f"cell {x!r} is a {type(x).__name__}, not an int")
    return g


def fails(g):
    raise ValueError("this program never works")


def demo_index(S, I):
    for k, (i, _) in enumerate(S):
        if i == I:
            return k
    return None


def batt(task_id, S, I, C, log_path):
    with open(log_path, "a") as log:
        log.write(f"{task_id} C={'None' if C is None else 'given'} I={type(I).__name__}\n")
    o = []
    s = []
    t_n = 0
    try:
        t_n += 1
        o.append((t_n, 0, "identity", I))
    except Exception:
        pass
    try:
        t_n += 1
        o.append((t_n, 0, "rot90", rot90(I)))
    except Exception:
        pass
    try:
        t_n += 1
        o.append((t_n, 0, "flip", flip(I)))
    except Exception:
        pass
    try:
        t_n += 1
        o.append((t_n, 0, "fails", fails(I)))
    except Exception:
        pass
    try:
        t_n += 1
        o.append((t_n, 0, "ints_only", ints_only(I)))
    except Exception:
        pass
    try:
        t_n += 1
        o.append((t_n, 0, "twice", rot90(rot90(I))))
        o.append((t_n, 1, "twice", flip(rot90(I))))
    except Exception:
        pass
    try:
        t_n += 1
        if (task_id, demo_index(S, I)) in SLOW_SAMPLES:
            time.sleep(SLOW_S)
        o.append((t_n, 0, "slow", flip(flip(I))))
    except Exception:
        pass
    for t, _, solver_id, out in o:
        try:
            fit = sum(program_fits(solver_id, i, x) for i, x in S) / len(S)
            s.append((t, solver_id, "demo_fit", fit))
            if C is not None:
                s.append((t, solver_id, "match", out == C))
        except Exception:
            pass
    return o, s


PROGRAMS = {"identity": lambda g: g, "rot90": rot90, "flip": flip, "ints_only": ints_only}


def program_fits(solver_id, i, x):
    program = PROGRAMS.get(solver_id)
    return program is not None and program(i) == x


def batt_raises(task_id, S, I, C, log_path):
    raise RuntimeError("the whole battery failed")


def batt_malformed(task_id, S, I, C, log_path):
    return [("only", "three", "fields")], []
