"""Runs the app with uvicorn, in the foreground (serve) or in a background thread (Python API, tests).

With a Dropbox API port, a second uvicorn server answers HTTPS as Dropbox does, on the same event
loop as the main one: one process, and the domain is only ever touched from that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette

from emulator.dialects import DIALECTS
from emulator.runtime import DropboxApiInfo, Runtime
from emulator.web.app import create_app
from emulator.web.stream_routes import end_streams

if TYPE_CHECKING:
    # Imported only with a Dropbox API port (the HTTPS surface, trustme and cryptography): they
    # cost `serve` tens of ms of start-up otherwise.
    from emulator.tls import LocalTLS


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

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The console's live streams never end by themselves, and uvicorn waits for open responses.
        end_streams(self.config.app)
        await super().shutdown(sockets)


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


class DropboxApiServer(EmulatorServer):
    """The HTTPS server of the Dropbox API surface: it stops without waiting on its clients."""

    def __init__(
        self, config: uvicorn.Config, app: Starlette, on_ready: Callable[[EmulatorServer], None] | None = None
    ) -> None:
        super().__init__(config, on_ready)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A longpoll may wait 480 s: answer them all now. And an idle TLS keep-alive connection
        # closes only once its client answers the close, which some never do: drop what is left.
        from emulator.web.dropbox_api.app import longpolls_of

        longpolls_of(self.app).stop()
        self.force_exit = True
        await super().shutdown(sockets)
        for connection in list(self.server_state.connections):
            connection.transport.abort()
        await asyncio.sleep(0)  # lets the aborted connections hear that they are lost


def make_dropbox_config(
    app: Starlette, host: str, port: int, tls: LocalTLS, log_level: str = "warning"
) -> uvicorn.Config:
    fast = fast_loop_settings()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",  # the main app starts and stops the runtime
        access_log=False,
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
        loop=fast["loop"],
        http=fast["http"],
    )


class Servers:
    """The main server and, given `dropbox_api_port`, the HTTPS Dropbox API server; ready when all are."""

    def __init__(
        self,
        runtime: Runtime,
        host: str,
        port: int,
        *,
        dropbox_api_port: int | None = None,
        dropbox_ca_file: Path | None = None,
        log_level: str = "warning",
        on_ready: Callable[[Servers], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.on_ready = on_ready
        self.ready = threading.Event()
        self.main = EmulatorServer(make_config(runtime, host, port, log_level), on_ready=self._started)
        self.tls: LocalTLS | None = None
        self.dropbox: EmulatorServer | None = None
        if dropbox_api_port is not None:
            from emulator.tls import LocalTLS

            self.tls = LocalTLS.create(host, dropbox_ca_file)
            from emulator.web.dropbox_api.app import create_dropbox_app

            app = create_dropbox_app(runtime)
            config = make_dropbox_config(app, host, dropbox_api_port, self.tls, log_level)
            self.dropbox = DropboxApiServer(config, app, on_ready=self._started)

    @property
    def all(self) -> list[EmulatorServer]:
        return [self.main] if self.dropbox is None else [self.main, self.dropbox]

    def _started(self, _server: EmulatorServer) -> None:
        if not all(server.ready.is_set() for server in self.all):
            return
        if self.dropbox is not None and self.tls is not None:
            from emulator.tls import client_host

            where = client_host(self.host, self.dropbox.port or 0)
            self.runtime.dropbox_api = DropboxApiInfo(where, where, where, str(self.tls.ca_file))
        self.ready.set()
        if self.on_ready is not None:
            self.on_ready(self)

    async def serve(self) -> None:
        """Runs every server on this loop; when one stops, for whatever reason, the others stop too."""

        async def serve_one(server: EmulatorServer) -> None:
            try:
                await server.serve()
            finally:
                self.exit()

        await asyncio.gather(*(serve_one(server) for server in self.all))

    def exit(self) -> None:
        for server in self.all:
            server.should_exit = True

    def close(self) -> None:
        """After serving: the Dropbox API is gone, and so are its certificate files."""
        self.runtime.dropbox_api = None
        if self.tls is not None:
            self.tls.close()


def base_urls(host: str, port: int) -> dict[str, str]:
    shown = f"[{host}]" if ":" in host else host
    origin = f"http://{shown}:{port}"
    return {"origin": origin, **{name: origin + d.base for name, d in DIALECTS.items()}}


def ready_line(host: str, port: int, dropbox: DropboxApiInfo | None = None) -> str:
    urls = base_urls(host, port)
    apis = " ".join(f"{name}={url}" for name, url in urls.items() if name != "origin")
    line = (
        f"hub-emulator ready on {urls['origin']} | API {apis} | control {urls['origin']}/_emulator | "
        f"console {urls['origin']}/_emulator/ui/"
    )
    if dropbox is not None:
        line += f" | Dropbox API https://{dropbox.api_host} CA file {dropbox.ca_file}"
    return line


def serve_forever(
    runtime: Runtime,
    host: str,
    port: int,
    log_level: str = "warning",
    dropbox_api_port: int | None = None,
    dropbox_ca_file: Path | None = None,
) -> None:
    """Blocks until Ctrl-C or SIGTERM; uvicorn handles both as a clean shutdown.

    Raises OSError before serving when `dropbox_ca_file` cannot be written.
    """

    def announce(servers: Servers) -> None:
        print(ready_line(host, servers.main.port or port, runtime.dropbox_api), flush=True)

    servers = Servers(
        runtime,
        host,
        port,
        dropbox_api_port=dropbox_api_port,
        dropbox_ca_file=dropbox_ca_file,
        log_level=log_level,
        on_ready=announce,
    )
    # uvicorn shuts down gracefully, then re-raises the signal it caught to the handler that was
    # there before it; these make that a clean exit (status 0) instead of a kill.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # What start-up made (modules, the fixture's state, the app) lives as long as the process: out
    # of the collector's sight, its full collections stop walking it again and again. This process
    # is the emulator's own (`serve`, which built all that with the collector off); a library
    # user's process is left as it is.
    gc.freeze()
    gc.enable()
    try:
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=servers.main.config.get_loop_factory()) as runner,
        ):
            runner.run(servers.serve())
    finally:
        servers.close()


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@contextlib.contextmanager
def serving(runtime: Runtime) -> Iterator[str]:
    """`runtime` served on a free port of 127.0.0.1 in a background thread; yields its origin URL."""
    server = ServerThread(runtime).start()
    try:
        yield server.url
    finally:
        server.stop()


class ServerThread:
    """The server in a background thread: ready when uvicorn says `started`, stopped with `should_exit`."""

    def __init__(
        self,
        runtime: Runtime,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        dropbox_api_port: int | None = None,
        dropbox_ca_file: Path | None = None,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.servers = Servers(
            runtime, host, port, dropbox_api_port=dropbox_api_port, dropbox_ca_file=dropbox_ca_file
        )
        self.server = self.servers.main
        self.thread = threading.Thread(target=self._run, name="hub-emulator", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            # uvicorn installs signal handlers only on the main thread, so this is safe off it.
            asyncio.run(self.servers.serve())
        except BaseException as error:  # reported to the starting thread
            self.error = error
            self.servers.ready.set()

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        if not self.servers.ready.wait(timeout):
            raise RuntimeError("the emulator did not start in time")
        if self.error is not None or self.server.port is None:
            self.servers.close()
            raise RuntimeError(f"the emulator failed to start: {self.error!r}")
        return self

    @property
    def url(self) -> str:
        return base_urls(self.host, self.server.port or 0)["origin"]

    @property
    def dropbox_api_host(self) -> str | None:
        """`host:port` of the Dropbox API (for DROPBOX_API_HOST and friends), when it is on."""
        info = self.runtime.dropbox_api
        return info.api_host if info else None

    @property
    def dropbox_ca_file(self) -> str | None:
        """The CA file a Dropbox client must trust (`ca_certs`), when the Dropbox API is on."""
        info = self.runtime.dropbox_api
        return info.ca_file if info else None

    def stop(self, timeout: float = 10.0) -> None:
        self.servers.exit()
        self.thread.join(timeout)
        self.servers.close()
