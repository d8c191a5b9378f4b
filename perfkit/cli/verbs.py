"""Every verb module of the command line; importing one registers its commands on ``app``.

Each verb lives in its own module so that it stays a thin wrapper over one Python function.
"""

from perfkit.cli import (
    compare,  # noqa: F401
    gate,  # noqa: F401
    history,  # noqa: F401
    predict,  # noqa: F401
    profile,  # noqa: F401
    run,  # noqa: F401
)
