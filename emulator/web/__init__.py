"""The HTTP face of the emulator: the only package that imports Starlette."""
