"""`hub-emulator bench`: the emulator against a bare Starlette app and a plain httpx client, in one run.

Kept import-free: `python -m emulator.bench.bare_app` must start as fast as a bare app.
`emulator.bench.runner.run_bench` runs everything; `emulator.bench.report` prints it.
"""

# Load generators `hub-emulator bench --generator` takes: auto is wrk when it is on the PATH.
GENERATORS = ("auto", "wrk", "python")
