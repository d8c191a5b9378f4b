"""The one exception type for user errors (bad input, bad options): the CLI catches it once,
prints its single line and exits 2."""


class PerfkitError(Exception):
    """A user error: the message is one line naming the file, the task and the field."""

    exit_code = 2


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM ended a run; everything recorded is in ``path``, which can be resumed."""

    def __init__(self, path):
        super().__init__(f"run interrupted; resume with: perfkit run --resume {path}")
        self.path = path
