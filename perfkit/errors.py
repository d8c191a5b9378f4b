"""The one exception type for user errors (bad input, bad options): the CLI catches it once,
prints its single line and exits 2."""


class PerfkitError(Exception):
    """A user error: the message is one line naming the file, the task and the field."""

    exit_code = 2
