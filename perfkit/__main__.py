from perfkit.cli import entry

entry()
