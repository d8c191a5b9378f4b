"""A solver module that imports in perfkit's own process but not in any child process (as a
solver defined by the parent's notebook or script would): a reference interpreter cannot load it."""

import multiprocessing

if multiprocessing.parent_process() is not None:
    raise ImportError("this solver only imports in the process that started perfkit")

from plugins.faulty_solvers import Misbehaving as Solver  # noqa: E402,F401
