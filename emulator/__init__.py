"""hub-emulator: an emulator of a cloud integration platform's Documents hub, events and a fake Dropbox.

What a client app's code and tests touch is importable from here: `from emulator import Emulator,
CallbackSink, WaitTimeout`. Each name is imported on first use (the API imports httpx), so that
`import emulator` stays cheap; `_LAZY` says where each one lives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Re-exported (the redundant aliases say so) for type checkers; at run time __getattr__ imports them.
    from emulator.api import ClientConfig as ClientConfig
    from emulator.api import Emulator as Emulator
    from emulator.api import EmulatorError as EmulatorError
    from emulator.api import ProvisionedInstance as ProvisionedInstance
    from emulator.api import ScenarioFailed as ScenarioFailed
    from emulator.api import Secrets as Secrets
    from emulator.api import WaitTimeout as WaitTimeout
    from emulator.sink import Callback as Callback
    from emulator.sink import CallbackSink as CallbackSink

__version__ = "0.1.0"

_LAZY = {
    "ClientConfig": "emulator.api",
    "Emulator": "emulator.api",
    "EmulatorError": "emulator.api",
    "ProvisionedInstance": "emulator.api",
    "ScenarioFailed": "emulator.api",
    "Secrets": "emulator.api",
    "WaitTimeout": "emulator.api",
    "Callback": "emulator.sink",
    "CallbackSink": "emulator.sink",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    """`from emulator import Emulator` imports the API (httpx) on first use: `import emulator` stays cheap."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'emulator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
