"""hub-emulator: an emulator of a cloud integration platform's Documents hub, events and a fake Dropbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.api import Emulator

__version__ = "0.1.0"
__all__ = ["Emulator", "__version__"]


def __getattr__(name: str) -> Any:
    """`from emulator import Emulator` imports the API (httpx) on first use: `import emulator` stays cheap."""
    if name == "Emulator":
        from emulator.api import Emulator

        return Emulator
    raise AttributeError(f"module 'emulator' has no attribute {name!r}")
