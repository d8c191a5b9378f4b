"""A solver module whose import ends any child process at once (as a native extension that
crashes there, or the OOM killer, would): a reference interpreter dies before its turn."""

import multiprocessing
import os

if multiprocessing.parent_process() is not None:
    os._exit(3)

from plugins.faulty_solvers import Misbehaving as Solver  # noqa: E402,F401
