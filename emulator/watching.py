"""`serve --watch`: rebuilds the state when the fixture file changes; an invalid file keeps the old state."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import watchfiles

from emulator.assemble import state_seed
from emulator.loading import FixtureError, load_fixture
from emulator.runtime import Runtime

log = logging.getLogger("emulator.watch")


def reload_fixture(runtime: Runtime, path: Path) -> bool:
    """Load `path` and, if it is valid, rebuild the state from it; answers whether it did."""
    try:
        fixture = load_fixture(path)
    except FixtureError as error:
        for problem in error.problems:
            log.error("%s", problem)
        log.error("fixture %s is invalid: the previous state is kept", path)
        return False
    except OSError as error:
        log.error("cannot read fixture %s (%s): the previous state is kept", path, error)
        return False
    runtime.state.seed = state_seed(fixture)
    runtime.reset()
    runtime.fixture_generation += 1
    log.warning("fixture %s changed: state rebuilt (generation %d)", path, runtime.fixture_generation)
    return True


async def watch_fixture(runtime: Runtime, path: Path, stop: asyncio.Event) -> None:
    """Watches the fixture's folder (editors replace files rather than write them in place)."""
    target = path.resolve()
    async for changes in watchfiles.awatch(target.parent, stop_event=stop, debounce=200, step=50):
        if any(_concerns(target, Path(changed)) for _, changed in changes):
            reload_fixture(runtime, path)


def _concerns(target: Path, changed: Path) -> bool:
    """The fixture itself, or a file it may include (`file:` entries); other fixtures beside it are not."""
    changed = changed.resolve()
    if changed == target:
        return True
    return changed.suffix not in (".yaml", ".yml") and "__pycache__" not in changed.parts
