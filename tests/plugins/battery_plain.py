"""The test battery without declared ids (no SOLVER_IDS, no candidates(task_id)): perfkit
then declares what it returned under a reference run."""

from plugins.battery import batt, batt_raises  # noqa: F401
