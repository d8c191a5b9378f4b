"""Every verb module of the command line; importing one registers its commands on ``app``.

A verb lives in its own module, or beside the verbs it shares its output with (compare.py:
compare, report; gate.py: gate, phases, baseline save; run.py: run, tasks, strategies), so that
each stays a thin wrapper over one Python function.
"""

from perfkit.cli import (
    compare,  # noqa: F401
    gate,  # noqa: F401
    history,  # noqa: F401
    predict,  # noqa: F401
    profile,  # noqa: F401
    run,  # noqa: F401
)
