"""Task files of the question workloads (benchmarks/networkx_work.py, constraint_work.py): one
ARC task file per question, written by the workload's ``tasks FOLDER`` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable, Iterable


def write_tasks(folder: Path, questions: Iterable[str], task_json: Callable[[str], dict]) -> list[Path]:
    """Write one task file per question into ``folder``: ``<question>.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{question}.json" for question in questions]
    for path in paths:
        path.write_text(json.dumps(task_json(path.stem)))
    return paths


def main(description: str, questions: Iterable[str], task_json: Callable[[str], dict]) -> None:
    """The workload's command line: ``tasks FOLDER`` writes its task files and prints their paths."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("command", choices=["tasks"], help="tasks: write the task files into FOLDER")
    parser.add_argument("folder", type=Path)
    print("\n".join(str(path) for path in write_tasks(parser.parse_args().folder, questions, task_json)))
