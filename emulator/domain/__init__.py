"""Pure-Python core of the emulator: no Starlette, no HTTP client, no wall clock but through `clock`."""
