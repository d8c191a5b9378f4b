"""Running one configuration: tasks → solver → strategy → backend → outcomes → store, with the
environment and a calibration workload recorded beside the units."""

from perfkit.runner.run import Observer, check, check_all, import_plugins, resume, run

__all__ = ["Observer", "check", "check_all", "import_plugins", "resume", "run"]
