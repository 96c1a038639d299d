"""Runs the app with uvicorn, in the foreground (serve) or in a background thread (Python API, tests)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

from emulator.dialects import DIALECTS
from emulator.runtime import Runtime
from emulator.web.app import create_app


def fast_loop_settings() -> dict[str, str]:
    """uvicorn's fast extras where installed (uvloop, httptools), else its pure-Python defaults."""
    return {
        "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        "http": "httptools" if importlib.util.find_spec("httptools") else "h11",
    }


class EmulatorServer(uvicorn.Server):
    """uvicorn's Server that knows its bound port and says when it is ready."""

    def __init__(
        self, config: uvicorn.Config, on_ready: Callable[[EmulatorServer], None] | None = None
    ) -> None:
        super().__init__(config)
        self.on_ready = on_ready
        self.ready = threading.Event()
        self.port: int | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit:
            return
        for server in self.servers:
            for sock in server.sockets:
                self.port = int(sock.getsockname()[1])
                break
        self.ready.set()
        if self.on_ready is not None:
            self.on_ready(self)


def make_config(
    runtime: Runtime, host: str, port: int, log_level: str = "warning", **extra: Any
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(runtime),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        **{**fast_loop_settings(), **extra},
    )


def base_urls(host: str, port: int) -> dict[str, str]:
    shown = f"[{host}]" if ":" in host else host
    origin = f"http://{shown}:{port}"
    return {"origin": origin, **{name: origin + d.base for name, d in DIALECTS.items()}}


def ready_line(host: str, port: int) -> str:
    urls = base_urls(host, port)
    apis = " ".join(f"{name}={url}" for name, url in urls.items() if name != "origin")
    return (
        f"hub-emulator ready on {urls['origin']} | API {apis} | control {urls['origin']}/_emulator | "
        f"console {urls['origin']}/_emulator/ui/"
    )


def serve_forever(runtime: Runtime, host: str, port: int, log_level: str = "warning") -> None:
    """Blocks until Ctrl-C or SIGTERM; uvicorn handles both as a clean shutdown."""

    def announce(server: EmulatorServer) -> None:
        print(ready_line(host, server.port or port), flush=True)

    server = EmulatorServer(make_config(runtime, host, port, log_level), on_ready=announce)
    # uvicorn shuts down gracefully, then re-raises the signal it caught to the handler that was
    # there before it; these make that a clean exit (status 0) instead of a kill.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class ServerThread:
    """The server in a background thread: ready when uvicorn says `started`, stopped with `should_exit`."""

    def __init__(self, runtime: Runtime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runtime = runtime
        self.host = host
        self.server = EmulatorServer(make_config(runtime, host, port))
        self.thread = threading.Thread(target=self._run, name="hub-emulator", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            # uvicorn installs signal handlers only on the main thread, so this is safe off it.
            asyncio.run(self.server.serve())
        except BaseException as error:  # reported to the starting thread
            self.error = error
            self.server.ready.set()

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        if not self.server.ready.wait(timeout):
            raise RuntimeError("the emulator did not start in time")
        if self.error is not None or self.server.port is None:
            raise RuntimeError(f"the emulator failed to start: {self.error!r}")
        return self

    @property
    def url(self) -> str:
        return base_urls(self.host, self.server.port or 0)["origin"]

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
