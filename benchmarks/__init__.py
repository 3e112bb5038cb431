"""edgekit's benchmarks: each module is a script run from the repository root as
`python -m benchmarks.NAME`; it prints a markdown table and writes benchmarks/results/NAME.json
and .md (with the machine's CPU features). Speed and memory targets are checked here, never by
timing assertions in tests.

Shared helpers (also used by tests/): artifacts.py (exports reused across runs), output.py (writing
results), photos.py (the shared photos' splits and fidelity measures), tiny.py (tiny real
artifacts of every format), fuzzcases.py (deterministic file mutations)."""
