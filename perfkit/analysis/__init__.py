"""Analysis of stored runs, pure: figures (metrics), answers (checked against a reference),
findings (rules → sentences), statistics, and the verdicts of compare (comparison), phases and
the gate. Stored runs in, plain data out; nothing here reads files or runs work.

Import from the modules (``perfkit.analysis.comparison.analyse``): this package imports
nothing itself, so that the light modules (text, statistics) stay light to import.
"""
