"""The run that py-spy launches: ``python -m perfkit.orchestration.profiling.child SPEC.json``.

A child of its own (rather than ``python -m perfkit run ...``) so that a profile can run the
exact ``RunConfig`` and hand-made ``tasks=`` of the Python API. SPEC holds the config record,
the store folder, an optional pickle of the tasks and where to write the result (run folder
and this process's pid, which tells the parent's samples from the workers').
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    from perfkit import runner
    from perfkit.model import PerfkitError, RunConfig

    config = RunConfig.from_record(spec["config"])
    tasks = None
    if spec.get("tasks_pickle"):
        with open(spec["tasks_pickle"], "rb") as fh:
            tasks = pickle.load(fh)
    result = {"pid": os.getpid()}
    try:
        result["run_path"] = str(runner.run(config, spec["store"], tasks=tasks).path)
    except PerfkitError as exc:
        result["error"] = str(exc)
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")
    return 0 if "error" not in result else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
