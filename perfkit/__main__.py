from perfkit.cli.app import entry

entry()
