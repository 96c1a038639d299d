"""`files/list_folder/longpoll`: wait on wall time until the account's log moves in a listing's scope."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from emulator.domain.provider import listing
from emulator.domain.provider.listing import Position, Scope
from emulator.domain.provider.store import Change, Store
from emulator.runtime import Runtime

DEFAULT_TIMEOUT = 30
MAX_TIMEOUT = 480
# Dropbox refuses less than 30 s; the emulator takes down to 1 s, so that a test need not wait 30 s.
MIN_TIMEOUT = 1


class Longpolls:
    """The longpolls waiting now, so that a stopping server can answer them all at once."""

    def __init__(self) -> None:
        self.stopping = False
        self._wakers: set[Callable[[], None]] = set()

    def stop(self) -> None:
        self.stopping = True
        for wake in list(self._wakers):
            wake()

    async def wait_for_changes(
        self, runtime: Runtime, store: Store, scope: Scope, position: Position, timeout: float
    ) -> bool:
        """True as soon as `scope` has changes after `position`; False when `timeout` seconds pass first.

        Woken by the store's listeners, by a reset (which replaces the store: the caller then finds
        the cursor stale) and by the server stopping; never by polling.
        """
        if self.stopping or listing.has_changes(store, scope, position):
            return listing.has_changes(store, scope, position)
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        def on_batch(_store: Store, batch: list[Change]) -> None:
            if scope.touched_by(batch):
                wake()

        resets = runtime.state.reset_listeners
        store.listeners.append(on_batch)
        resets.append(wake)
        self._wakers.add(wake)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), timeout)
        finally:
            self._wakers.discard(wake)
            resets.remove(wake)
            store.listeners.remove(on_batch)
        return listing.has_changes(store, scope, position)
