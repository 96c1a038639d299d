"""Building large structures at once (a fixture's tree, its accounts) without the cyclic GC in the way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off while the block builds, back as it was afterwards.

    Building hundreds of thousands of objects (YAML nodes, a store's entries) triggers the collector
    over and over, each full pass walking everything built so far: pausing it made a 100,000-file
    fixture's YAML 3x faster to read, and its accounts about a fifth faster to build. What is built
    holds no cycles worth collecting early.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
