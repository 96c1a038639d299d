"""Soak: many clients change Dropbox through the hub while the callback receiver misbehaves; nothing is lost.

    python benchmarks/soak.py [--seconds 60] [--clients 32] [--down-seconds 10] [--json]

Starts `hub-emulator serve --port 0 --state <tmp>` as a subprocess (real clock, scaled so that
polling ticks and retries happen within the run) and, in this process, a callback receiver that
fails a share of the attempts (503), delays some, and goes down for a while (its listening socket
and every open connection closed, then reopened on the same port). `--clients` asyncio clients
(httpx) make mixed hub operations on webhook and polling instances of two tenants, one of them with
the `queue` failure policy, whose queued deliveries a client-side task redelivers now and then,
as an app would. Everything stays on loopback.

At the end the clock is moved on and queued deliveries are redelivered (the receiver failing for
a few more rounds, then recovering) until nothing is pending or queued; then every change is
accounted for: for each instance, the changes of its account since it was provisioned (the
control plane's change log) must be exactly what the receiver accepted for it, de-duplicated by
notificationId, and every async job must have told its completion. It prints a table, then one
JSON line; the exit status is 1 when anything was lost or any answer was a 5xx.
The server's RSS (VmRSS of /proc/<pid>/status) is sampled at start, after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"hub-emulator ready on (http://\S+)")
API = "/elements/api-v2"
HUB = API + "/hubs/documents"
ACCOUNTS = "/_emulator/providers/dropbox/accounts"
API_KEY, API_SECRET = "fake_Dropbox_api_key", "fake_Dropbox_api_secret"
REDIRECT = "https://app.test/auth"
DEFAULT_AUTH = ("dev-user-secret", "dev-org-secret")
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
SETTLE_ROUNDS = 300
FAULTY_SETTLE_ROUNDS = 10
FAILED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy"


@dataclass
class Options:
    seconds: float = 60.0
    clients: int = 32
    failure_rate: float = 0.3
    delay_rate: float = 0.05
    max_delay: float = 0.2  # wall seconds, well under the emulator's 10 s delivery timeout
    down_seconds: float = 10.0
    down_at: float = 0.4  # share of the run after which the receiver goes down
    # Emulator seconds per wall second: 1-minute polls tick 10 times a second, and the platform's
    # 4^k s retries (4 s, 16 s, ... 73 h) fall due within the run (4^6 s is 6.8 s of wall time).
    scale: float = 600.0
    redeliver_every: float = 1.0
    think: float = 0.05  # wall seconds a client waits between operations, as an app does
    seed: int = 1


# -- the receiver -------------------------------------------------------------------------------
@dataclass
class Receiver:
    """A callback receiver that fails, delays and goes down on purpose; remembers what it accepted.

    It runs in a process of its own (`ReceiverProcess`), so that the clients' work never slows
    its answers down."""

    options: Options
    rng: random.Random
    port: int = 0
    accepted: dict[int, dict[str, Any]] = field(default_factory=dict)  # by notificationId
    paths: dict[int, str] = field(default_factory=dict)
    duplicates: int = 0
    attempts: int = 0
    failed: int = 0
    delayed: int = 0
    downs: int = 0
    _server: asyncio.Server | None = None
    _connections: set[asyncio.StreamWriter] = field(default_factory=set)
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    async def up(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """As a crashed receiver: no listening socket, every open connection cut."""
        self.downs += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._connections):
            writer.transport.abort()
        self._connections.clear()

    def recover(self) -> None:
        """From now on every attempt succeeds at once: the app behind the receiver is healthy again."""
        self.options = Options(**{**self.options.__dict__, "failure_rate": 0.0, "delay_rate": 0.0})

    async def close(self) -> None:
        await self.down()
        self.downs -= 1  # closing at the end is no outage
        if self._handlers:  # cut connections end their handlers; a delayed answer ends its sleep first
            await asyncio.wait(list(self._handlers), timeout=2 * self.options.max_delay + 1)

    def report(self) -> dict[str, Any]:
        counts = {k: getattr(self, k) for k in ("duplicates", "attempts", "failed", "delayed", "downs")}
        return {**counts, "accepted": self.accepted, "paths": self.paths}

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self._connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                body = await reader.readexactly(int(found.group(1)) if found else 0)
                writer.write(await self._answer(head.split(b" ", 2)[1].decode(), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer(self, path: str, body: bytes) -> bytes:
        self.attempts += 1
        if self.rng.random() < self.options.failure_rate:
            self.failed += 1
            return FAILED
        if self.rng.random() < self.options.delay_rate:
            self.delayed += 1
            await asyncio.sleep(self.rng.uniform(0.01, self.options.max_delay))
        message = json.loads(body)
        notification_id = int(message["notificationId"])
        if notification_id in self.accepted:
            self.duplicates += 1
        else:
            self.accepted[notification_id] = message
            self.paths[notification_id] = path
        return OK


def _receiver_process(conn: Connection, options: Options) -> None:
    asyncio.run(_serve_commands(conn, options))


async def _serve_commands(conn: Connection, options: Options) -> None:
    """The receiver's process: answers callbacks, and obeys up / down / recover / report / stop."""
    receiver = Receiver(options, random.Random(options.seed + 1))
    await receiver.up()
    conn.send(receiver.port)
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "up":
            await receiver.up()
        elif command == "down":
            await receiver.down()
        elif command == "recover":
            receiver.recover()
        elif command == "stop":
            await receiver.close()
            conn.send(receiver.report())
            return
        conn.send(receiver.attempts)  # every other command answers how many attempts came so far


class ReceiverProcess:
    """The parent's handle on the receiver's process."""

    def __init__(self, options: Options) -> None:
        self._conn, child = multiprocessing.get_context("spawn").Pipe()
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=_receiver_process, args=(child, options), daemon=True)
        self.process.start()
        self.port: int = self._conn.recv()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()

    async def command(self, command: str) -> Any:
        return await asyncio.to_thread(self._command, command)

    def _command(self, command: str) -> Any:
        with self._lock:
            self._conn.send(command)
            return self._conn.recv()

    async def stop(self) -> dict[str, Any]:
        report: dict[str, Any] = await self.command("stop")
        self.process.join(10)
        return report


# -- the server -----------------------------------------------------------------------------------
class Server:
    """`hub-emulator serve` in a subprocess, the way users run it."""

    def __init__(self, state_dir: Path) -> None:
        command = [sys.executable, "-m", "emulator", "serve", "--port", "0", "--clock", "real"]
        command += ["--state", str(state_dir / "state.json")]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = READY.search(line)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.url = match.group(1)

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(found.group(1)) if found else -1

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used (fields 14 and 15 of /proc/<pid>/stat)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


# -- setting up -----------------------------------------------------------------------------------
@dataclass
class Instance:
    id: int
    token: str
    tenant: str
    account: str
    vendor: str
    auth: tuple[str, str]  # user secret, organization secret
    start_cursor: int = 0

    def hub_auth(self) -> dict[str, str]:
        user, org = self.auth
        return {"Authorization": f"User {user}, Organization {org}, Element {self.token}"}


async def provision(
    http: httpx.AsyncClient, tenant: str, auth: tuple[str, str], account: str, vendor: str, hook: str
) -> Instance:
    code = await http.post(
        "/_emulator/oauth/codes",
        json={"tenant": tenant, "account": account, "clientId": API_KEY, "redirectUri": REDIRECT},
    )
    body = {
        "element": {"key": "dropbox"},
        "providerData": {"code": code.json()["code"]},
        "configuration": {
            "oauth.callback.url": REDIRECT,
            "oauth.api.key": API_KEY,
            "oauth.api.secret": API_SECRET,
            "event.notification.enabled": "true",
            "event.notification.callback.url": hook,
            "event.vendor.type": vendor,
            "event.poller.refresh_interval": "1",
        },
        "name": f"soak {tenant} {account} {vendor}",
    }
    headers = {"Authorization": f"User {auth[0]}, Organization {auth[1]}"}
    answer = await http.post(f"{API}/instances", json=body, headers=headers)
    answer.raise_for_status()
    created = answer.json()
    return Instance(created["id"], created["token"], tenant, account, vendor, auth)


async def set_up(http: httpx.AsyncClient, receiver_url: str, options: Options) -> list[Instance]:
    """Webhook and polling instances on two accounts of the default tenant, and on a tenant that queues."""
    (await http.post("/_emulator/clock", json={"mode": "real", "scale": options.scale})).raise_for_status()
    tenant = (await http.post("/_emulator/tenants")).json()
    policy = await http.put(
        f"/_emulator/organizations/{tenant['organizationId']}/policy", json={"policy": "queue"}
    )
    policy.raise_for_status()
    queueing = (tenant["userSecret"], tenant["organizationSecret"])
    plan = [
        ("default", DEFAULT_AUTH, "alice", "webhook"),
        ("default", DEFAULT_AUTH, "alice", "webhook"),
        ("default", DEFAULT_AUTH, "alice", "polling"),
        ("default", DEFAULT_AUTH, "bob", "webhook"),
        ("default", DEFAULT_AUTH, "bob", "polling"),
        (tenant["id"], queueing, "alice", "webhook"),
        (tenant["id"], queueing, "alice", "polling"),
    ]
    instances = []
    for n, (tenant_id, auth, account, vendor) in enumerate(plan):
        hook = f"{receiver_url}/hook/{n}"
        instances.append(await provision(http, tenant_id, auth, account, vendor, hook))
    for instance in instances:  # after every provisioning: none of them makes a change
        listing = (await http.get(ACCOUNTS, params={"tenant": instance.tenant})).json()
        instance.start_cursor = next(a["cursor"] for a in listing if a["key"] == instance.account)
    return instances


# -- the load -------------------------------------------------------------------------------------
@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    unexpected: list[str] = field(default_factory=list)
    jobs: set[int] = field(default_factory=set)  # eventIds of async requests answered
    redelivered: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


class Client:
    """One simulated app: its own folder, files it made, a random mix of operations."""

    def __init__(
        self,
        n: int,
        http: httpx.AsyncClient,
        instance: Instance,
        tally: Tally,
        rng: random.Random,
        jobs_url: str,
    ) -> None:
        self.n, self.http, self.instance, self.tally, self.rng = n, http, instance, tally, rng
        self.jobs_url = jobs_url
        self.home = f"/soak/c{n:02}"
        self.files: list[str] = []
        self.made = 0

    async def run(self, until: float, think: float) -> None:
        await self._call("mkdir", "POST", f"{HUB}/folders", params={"path": self.home})
        operations: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (0.22, self.mkdir),
            (0.22, self.upload),
            (0.08, self.overwrite),
            (0.08, self.copy),
            (0.08, self.move),
            (0.08, self.delete),
            (0.14, self.read),
            (0.05, self.at_dropbox),
            (0.05, self.async_mkdir),
        ]
        weights = [w for w, _ in operations]
        while time.monotonic() < until:
            _, operation = self.rng.choices(operations, weights)[0]
            await operation()
            await asyncio.sleep(think)

    async def read_only(self, until: float, think: float) -> None:
        """Reads that keep nothing: the server's memory must not grow while they go on."""
        while time.monotonic() < until:
            await self.read()
            await self._call("ping", "GET", f"{HUB}/ping")
            await asyncio.sleep(think)

    def _fresh(self, suffix: str = "") -> str:
        self.made += 1
        return f"{self.home}/n{self.made:05}{suffix}"

    async def _call(self, label: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        headers = {**self.instance.hub_auth(), **kwargs.pop("headers", {})}
        try:
            answer = await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            self.tally.transport_errors += 1
            self.tally.unexpected.append(f"{label}: {type(error).__name__}")
            return None
        self.tally.statuses[answer.status_code] += 1
        self.tally.operations[label] += 1
        if answer.status_code >= 400:
            self.tally.unexpected.append(f"{label} {answer.status_code}: {answer.text[:200]}")
        return answer

    async def mkdir(self) -> None:
        await self._call("mkdir", "POST", f"{HUB}/folders", params={"path": self._fresh()})

    async def upload(self) -> None:
        path = self._fresh(".txt")
        files = {"file": ("f.txt", f"soak {path}".encode())}
        answer = await self._call("upload", "POST", f"{HUB}/files", params={"path": path}, files=files)
        if answer is not None and answer.status_code == 200:
            self.files.append(path)

    async def overwrite(self) -> None:
        if self.files:
            path = self.rng.choice(self.files)
            files = {"file": ("f.txt", f"again {self.rng.random()}".encode())}
            params = {"path": path, "overwrite": "true"}
            await self._call("overwrite", "POST", f"{HUB}/files", params=params, files=files)

    async def copy(self) -> None:
        if self.files:
            target = self._fresh(".txt")
            source = self.rng.choice(self.files)
            answer = await self._call(
                "copy", "POST", f"{HUB}/files/copy", params={"path": source}, json={"path": target}
            )
            if answer is not None and answer.status_code == 200:
                self.files.append(target)

    async def move(self) -> None:
        if self.files:
            source = self.files.pop(self.rng.randrange(len(self.files)))
            target = self._fresh(".txt")
            answer = await self._call(
                "move", "PATCH", f"{HUB}/files/metadata", params={"path": source}, json={"path": target}
            )
            self.files.append(target if answer is not None and answer.status_code == 200 else source)

    async def delete(self) -> None:
        if self.files:
            path = self.files.pop(self.rng.randrange(len(self.files)))
            await self._call("delete", "DELETE", f"{HUB}/files", params={"path": path})

    async def read(self) -> None:
        if self.rng.random() < 0.5:
            await self._call(
                "read", "GET", f"{HUB}/folders/contents", params={"path": self.home, "pageSize": 50}
            )
        else:
            await self._call("read", "GET", f"{HUB}/search", params={"path": self.home, "text": "n0"})

    async def at_dropbox(self) -> None:
        """The user changes the file in the Dropbox app: the same change log, the same callbacks."""
        path = self._fresh(".md")
        body = {"op": "upload", "path": path, "content": "from the desktop app"}
        params = {"tenant": self.instance.tenant}
        where = f"{ACCOUNTS}/{self.instance.account}/operations"
        answer = await self._call("at_dropbox", "POST", where, params=params, json=body)
        if answer is not None and answer.status_code == 200:
            self.files.append(path)

    async def async_mkdir(self) -> None:
        headers = {"Elements-Async-Request": "true", "Elements-Async-Callback-Url": self.jobs_url}
        params = {"path": self._fresh()}
        answer = await self._call("async_mkdir", "POST", f"{HUB}/folders", params=params, headers=headers)
        if answer is not None and answer.status_code == 200:
            self.tally.jobs.add(int(answer.json()["eventId"]))


async def redeliver_now_and_then(
    http: httpx.AsyncClient, instances: list[Instance], tally: Tally, every: float, until: float
) -> None:
    """What an app of a `queue` organization does: redeliver its queued notifications."""
    organizations = {instance.auth for instance in instances}
    while time.monotonic() < until:
        await asyncio.sleep(every)
        for user, org in organizations:
            headers = {"Authorization": f"User {user}, Organization {org}"}
            answer = await http.put(f"{API}/notifications/subscriptions/deliveries", headers=headers)
            tally.statuses[answer.status_code] += 1
            if answer.status_code == 200:
                tally.redelivered += int(answer.json()["redelivered"])


async def outage(receiver: ReceiverProcess, at: float, seconds: float) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    await receiver.command("down")
    await asyncio.sleep(seconds)
    await receiver.command("up")


# -- the end: settling and accounting ----------------------------------------------------------------
async def settle(
    http: httpx.AsyncClient, instances: list[Instance], tally: Tally, receiver: ReceiverProcess
) -> int:
    """Move the clock on (retries and polls fall due) and redeliver, until nothing is pending or queued.

    The receiver keeps failing for the first rounds, then recovers: with the `queue` policy every
    failure stops a destination again, and only a healthy receiver lets its queue drain."""
    organizations = {instance.auth for instance in instances}
    busy: list[dict[str, Any]] = []
    for round_number in range(1, SETTLE_ROUNDS + 1):
        if round_number == FAULTY_SETTLE_ROUNDS:
            await receiver.command("recover")
        (await http.post("/_emulator/clock/advance", json={"hours": 4})).raise_for_status()
        for user, org in organizations:
            headers = {"Authorization": f"User {user}, Organization {org}"}
            answer = await http.put(f"{API}/notifications/subscriptions/deliveries", headers=headers)
            tally.redelivered += int(answer.json()["redelivered"])
        redelivered = (await http.post("/_emulator/deliveries/redeliver")).json()["redelivered"]
        tally.redelivered += int(redelivered)
        subscriptions = (await http.get("/_emulator/subscriptions")).json()
        busy = [s for s in subscriptions if s["pending"] or s["queued"] or s["in_flight"]]
        if not busy and round_number > FAULTY_SETTLE_ROUNDS:
            return round_number
        await asyncio.sleep(0.2)  # real HTTP attempts in flight, on wall time
    raise RuntimeError(f"deliveries did not settle: {busy}")


async def changes_since(http: httpx.AsyncClient, instance: Instance) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = instance.start_cursor
    while True:
        params: dict[str, str | int] = {"tenant": instance.tenant, "cursor": cursor, "limit": 5000}
        page = (await http.get(f"{ACCOUNTS}/{instance.account}/changes", params=params)).json()
        found += page["changes"]
        cursor = page["cursor"]
        if not page["hasMore"]:
            return found


async def account_for(
    http: httpx.AsyncClient, instances: list[Instance], received: dict[str, Any], tally: Tally
) -> dict[str, Any]:
    """Per instance: its account's changes since it was provisioned against what the receiver accepted."""
    lost = extra = changes = 0
    per_instance = []
    for instance in instances:
        expected = Counter((c["path_lower"], c[".tag"]) for c in await changes_since(http, instance))
        got: Counter[tuple[str, str]] = Counter()
        for message in received["accepted"].values():
            hook = received["paths"][message["notificationId"]].startswith("/hook/")
            if hook and message["instanceId"] == instance.id and not message["response"].get("error"):
                got.update((e["path"], e["metadata"]["type"]) for e in message["response"]["events"])
        missing, surplus = expected - got, got - expected
        lost += sum(missing.values())
        extra += sum(surplus.values())
        changes += sum(expected.values())
        per_instance.append(
            {
                "instance": instance.id,
                "vendor": instance.vendor,
                "tenant": instance.tenant,
                "changes": sum(expected.values()),
                "lost": sum(missing.values()),
                "extra": sum(surplus.values()),
            }
        )
    told = {m["eventId"] for nid, m in received["accepted"].items() if received["paths"][nid] == "/jobs"}
    return {
        "changes": changes,
        "lost": lost,
        "extra": extra,
        "instances": per_instance,
        "jobs": len(tally.jobs),
        "jobs_lost": len(tally.jobs - told),
    }


async def journal(http: httpx.AsyncClient) -> dict[str, int]:
    notifications = (await http.get("/_emulator/deliveries", timeout=300)).json()
    attempts = [a for n in notifications for a in n["attempts"]]
    return {
        "notifications": len(notifications),
        "delivered": sum(1 for n in notifications if n["status"] == "delivered"),
        "attempts": len(attempts),
        "retries": sum(1 for a in attempts if a["tryNumber"] > 1),
        "failed_attempts": sum(1 for a in attempts if a["outcome"] == "failed"),
        "not_delivered": sum(1 for n in notifications if n["status"] != "delivered"),
        # The `queue` organization's: each stopped its queue at a failure, and waited for a redelivery.
        "queue_policy_notifications": sum(1 for n in notifications if n["policy"] == "queue"),
    }


# -- the run ----------------------------------------------------------------------------------------
async def soak(options: Options, state_dir: Path) -> dict[str, Any]:
    rng = random.Random(options.seed)
    receiver = ReceiverProcess(options)
    server = Server(state_dir)
    rss = {"start": server.rss_kib()}
    tally = Tally()
    limits = httpx.Limits(max_connections=options.clients + 8, max_keepalive_connections=options.clients + 8)
    try:
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60, trust_env=False) as http:
            instances = await set_up(http, receiver.url, options)
            cpu_before = server.cpu_seconds()
            started = time.monotonic()
            until = started + options.seconds
            jobs_url = f"{receiver.url}/jobs"
            clients = [
                Client(n, http, instances[n % len(instances)], tally, random.Random(rng.random()), jobs_url)
                for n in range(options.clients)
            ]
            warm_up = asyncio.create_task(
                _sample_after(rss, "warm", server, min(10.0, options.seconds * 0.2))
            )
            down_at = started + options.seconds * options.down_at
            background = [
                asyncio.create_task(outage(receiver, down_at, options.down_seconds)),
                asyncio.create_task(
                    redeliver_now_and_then(http, instances, tally, options.redeliver_every, until)
                ),
            ]
            await asyncio.gather(*(client.run(until, options.think) for client in clients))
            load_seconds = time.monotonic() - started
            load_requests = tally.requests
            rss["end_of_load"] = server.rss_kib()
            attempts_during_load = await receiver.command("count")
            server_cpu = (server.cpu_seconds() - cpu_before) / load_seconds
            await warm_up
            await asyncio.gather(*background)
            rounds = await settle(http, instances, tally, receiver)
            rss["end"] = server.rss_kib()
            # Half as long again of reads, which keep nothing: flat memory here means no leak per request.
            reads_until = time.monotonic() + options.seconds / 2
            halfway = asyncio.create_task(_sample_after(rss, "halfway_reads", server, options.seconds / 4))
            await asyncio.gather(*(client.read_only(reads_until, options.think) for client in clients))
            await halfway
            rss["after_reads"] = server.rss_kib()
            received = await receiver.stop()
            accounting = await account_for(http, instances, received, tally)
            figures = await journal(http)
    finally:
        exit_code = server.stop()
        if receiver.process.is_alive():
            receiver.process.kill()
    return {
        "seconds": round(load_seconds, 1),
        "clients": options.clients,
        "requests": load_requests,
        "requests_per_second": round(load_requests / load_seconds, 1),
        "read_phase_requests": tally.requests - load_requests,
        "server_cpu_percent": round(100 * server_cpu),
        "server_errors": tally.server_errors,
        "transport_errors": tally.transport_errors,
        "unexpected": len(tally.unexpected),
        "unexpected_examples": tally.unexpected[:5],
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "operations": dict(tally.operations),
        **accounting,
        **figures,
        "receiver_attempts": received["attempts"],
        "receiver_attempts_during_load": attempts_during_load,
        "receiver_failed": received["failed"],
        "receiver_delayed": received["delayed"],
        "receiver_downs": received["downs"],
        "duplicates": received["duplicates"],
        "redeliveries": tally.redelivered,
        "settle_rounds": rounds,
        "rss_kib": rss,
        "server_exit": exit_code,
    }


async def _sample_after(rss: dict[str, int], label: str, server: Server, seconds: float) -> None:
    await asyncio.sleep(seconds)
    rss[label] = server.rss_kib()


def passed(report: dict[str, Any]) -> bool:
    return bool(
        report["lost"] == 0
        and report["jobs_lost"] == 0
        and report["server_errors"] == 0
        and report["transport_errors"] == 0
        and report["not_delivered"] == 0
        and report["server_exit"] == 0
    )


def table(report: dict[str, Any]) -> str:
    rss = report["rss_kib"]
    rows = [
        ("load", f"{report['seconds']} s, {report['clients']} clients"),
        (
            "requests",
            f"{report['requests']} ({report['requests_per_second']}/s), 5xx {report['server_errors']}, "
            f"transport errors {report['transport_errors']}, other 4xx {report['unexpected']}",
        ),
        ("changes", f"{report['changes']} (per subscribed instance, summed)"),
        ("notifications", f"{report['notifications']}, delivered {report['delivered']}"),
        (
            "attempts",
            f"{report['attempts']}, retries {report['retries']}, failed {report['failed_attempts']}",
        ),
        (
            "receiver",
            f"{report['receiver_attempts']} attempts seen, failed {report['receiver_failed']}, "
            f"delayed {report['receiver_delayed']}, down {report['receiver_downs']}x",
        ),
        (
            "queued, redelivered",
            f"{report['queue_policy_notifications']} notifications of the queue-policy tenant, all "
            f"delivered through {report['redeliveries']} queued -> pending moves (repeats counted)",
        ),
        ("async jobs", f"{report['jobs']}, completions lost {report['jobs_lost']}"),
        ("lost", str(report["lost"])),
        ("extra / duplicates", f"{report['extra']} / {report['duplicates']}"),
        (
            "RSS KiB",
            f"start {rss['start']}, warm {rss.get('warm')}, end of load {rss['end_of_load']}, "
            f"settled {rss['end']}, reads only for half as long: halfway {rss['halfway_reads']}, "
            f"end {rss['after_reads']}",
        ),
        ("verdict", "PASS" if passed(report) else "FAIL"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def parse(argv: list[str] | None = None) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Options()
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--failure-rate", type=float, default=defaults.failure_rate)
    parser.add_argument("--delay-rate", type=float, default=defaults.delay_rate)
    parser.add_argument("--down-seconds", type=float, default=defaults.down_seconds)
    parser.add_argument("--down-at", type=float, default=defaults.down_at)
    parser.add_argument("--scale", type=float, default=defaults.scale)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--think", type=float, default=defaults.think, help="seconds between a client's calls"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    return Options(
        seconds=args.seconds,
        clients=args.clients,
        failure_rate=args.failure_rate,
        delay_rate=args.delay_rate,
        down_seconds=args.down_seconds,
        down_at=args.down_at,
        scale=args.scale,
        seed=args.seed,
        think=args.think,
    ), bool(args.json)


def main(argv: list[str] | None = None) -> int:
    options, json_only = parse(argv)
    with tempfile.TemporaryDirectory(prefix="hub-emulator-soak-") as state_dir:
        report = asyncio.run(soak(options, Path(state_dir)))
    if not json_only:
        print(table(report))
    print(json.dumps(report, separators=(",", ":")))
    return 0 if passed(report) else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
