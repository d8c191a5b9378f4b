"""Running several configurations, in one place: the experiments of a comparison
(experiment, compare), the gate's measurements (gate) and profiles (profiling). Each module
runs work through perfkit/runner and hands stored runs to perfkit/analysis; rendering is
perfkit/reports' job and gluing the two is perfkit/api.py's."""
