"""Tenants are isolated: nothing done with one tenant's secrets reads or changes another tenant's world.

A hypothesis state machine drives tenant A through random sequences: provisioning, hub changes,
changes at its Dropbox, updates, deletes, redeliveries, resets, failing callbacks, and attempts at
tenant B's instances, events and configuration with A's secrets. Tenant B owns an instance, files,
events, and notifications queued after a failed callback (its organization's policy is `queue`);
both tenants' callbacks go to one receiver URL. B's whole view (what B's secrets read, and the
control plane's views scoped to B, its delivery queue included) is compared before and after every
step of A, and must never move.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from starlette.testclient import TestClient

from emulator.assemble import state_seed
from emulator.loading import load_fixture
from emulator.runtime import Runtime
from emulator.web.app import create_app
from tests.conftest import DEFAULT_FIXTURE, RecordingSender, provision_by_side_channel

API = "/elements/api-v2"
HUB = API + "/hubs/documents"
ACCOUNTS = "/_emulator/providers/dropbox/accounts"
HOOK = "http://receiver.test/hook"  # one receiver for both tenants, as parallel test workers may share
# Names B uses too, so that A's writes land on the very paths B holds in its own account.
PATHS = st.sampled_from(["/B-only", "/B-only/b.txt", "/Shared", "/shared.txt", "/Documents", "/hello.txt"])


class Tenant:
    def __init__(self, client: TestClient, hook: str) -> None:
        created = client.post("/_emulator/tenants").json()
        self.id: str = created["id"]
        self.org_id: int = created["organizationId"]
        self.user_secret: str = created["userSecret"]
        self.org_secret: str = created["organizationSecret"]
        self.hook = hook
        self.auth = {"Authorization": f"User {self.user_secret}, Organization {self.org_secret}"}

    def hub_auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"User {self.user_secret}, Organization {self.org_secret}, Element {token}"}

    def provision(self, client: TestClient, vendor: str = "webhook") -> dict[str, Any]:
        return provision_by_side_channel(
            client,
            self.hook,
            name=f"{self.id} {vendor}",
            tenant=self.id,
            auth=self.auth,
            **{"event.vendor.type": vendor},
        )


class Isolation(RuleBasedStateMachine):
    a_instances = Bundle("a_instances")

    def __init__(self) -> None:
        super().__init__()
        self.sender = RecordingSender()
        runtime = Runtime(state_seed(load_fixture(DEFAULT_FIXTURE)), sender=self.sender)
        self.client = TestClient(create_app(runtime), follow_redirects=False)
        self.client.__enter__()
        self.a = Tenant(self.client, HOOK)
        self.b = Tenant(self.client, HOOK)
        # B's first callback fails and its organization queues: B's queue at HOOK stays halted.
        policy = self.client.put(f"/_emulator/organizations/{self.b.org_id}/policy", json={"policy": "queue"})
        assert policy.status_code == 200, policy.text
        self.sender.fail(HOOK, 503)
        self.b_instance = self.b.provision(self.client)
        self.b_token: str = self.b_instance["token"]
        auth = self.b.hub_auth(self.b_token)
        for path in ("/B-only", "/Shared"):
            assert self.client.post(f"{HUB}/folders", params={"path": path}, headers=auth).status_code == 200
        upload = self.client.post(
            f"{HUB}/files", params={"path": "/B-only/b.txt"}, files={"file": ("b.txt", b"B's")}, headers=auth
        )
        assert upload.status_code == 200, upload.text
        self._settle()
        self.b_events = [
            e["id"] for e in self.client.get(f"{API}/instances/events", headers=self.b.auth).json()
        ]
        assert len(self.b_events) == 3
        self.b_config = self.client.get(
            f"{API}/instances/{self.b_instance['id']}/configuration", headers=self.b.auth
        ).json()
        self.b_view = self.view_of_b()

    def teardown(self) -> None:
        self.client.__exit__(None, None, None)

    def _settle(self) -> None:
        """B's first callback has failed, and the rest of B's are queued behind it."""
        waited = self.client.get("/_emulator/deliveries/wait", params={"attempts": 1, "timeout": 10})
        assert waited.status_code == 200, waited.text
        queued = self.client.get(f"{API}/notifications/subscriptions/deliveries", headers=self.b.auth).json()
        assert len(queued) == 3, queued

    def view_of_b(self) -> dict[str, Any]:
        """Everything B's secrets read, and what the control plane shows of B's tenant."""
        get = self.client.get
        b, token, instance_id = self.b, self.b_token, self.b_instance["id"]
        return {
            "instances": get(f"{API}/instances", headers=b.auth).json(),
            "instance": get(f"{API}/instances/{instance_id}", headers=b.auth).json(),
            "configuration": get(f"{API}/instances/{instance_id}/configuration", headers=b.auth).json(),
            "events": get(f"{API}/instances/events", headers=b.auth).json(),
            "queued": get(f"{API}/notifications/subscriptions/deliveries", headers=b.auth).json(),
            "documents": get(f"{HUB}/search", params={"path": "/"}, headers=b.hub_auth(token)).json(),
            "accounts": get(ACCOUNTS, params={"tenant": b.id}).json(),
            "changes": get(f"{ACCOUNTS}/alice/changes", params={"tenant": b.id}).json(),
            "codes": get("/_emulator/oauth/codes", params={"tenant": b.id}).json(),
            "deliveries": get("/_emulator/deliveries", params={"instanceId": instance_id}).json(),
            # The queue B's callbacks wait in at HOOK: B's own (or one shared, were queues not owned).
            "queue": [
                s
                for s in get("/_emulator/subscriptions").json()
                if s["url"] == HOOK and s.get("owner", "") in ("", str(b.org_id))
            ],
        }

    # -- what A does ------------------------------------------------------------------------
    @initialize(target=a_instances)
    def first_instance(self) -> dict[str, Any]:
        return self.a.provision(self.client)

    @rule(target=a_instances, vendor=st.sampled_from(["webhook", "polling"]))
    def provision(self, vendor: str) -> dict[str, Any]:
        return self.a.provision(self.client, vendor)

    @rule(
        instance=a_instances,
        op=st.sampled_from(["mkdir", "upload", "delete", "copy"]),
        path=PATHS,
        target_path=PATHS,
    )
    def hub_change(self, instance: dict[str, Any], op: str, path: str, target_path: str) -> None:
        auth = self.a.hub_auth(instance["token"])
        if op == "mkdir":
            self.client.post(f"{HUB}/folders", params={"path": path}, headers=auth)
        elif op == "upload":
            self.client.post(
                f"{HUB}/files", params={"path": path}, files={"file": ("f", b"A's")}, headers=auth
            )
        elif op == "delete":
            self.client.delete(f"{HUB}/folders", params={"path": path}, headers=auth)
            self.client.delete(f"{HUB}/files", params={"path": path}, headers=auth)
        else:
            self.client.post(
                f"{HUB}/files/copy", params={"path": path}, json={"path": target_path}, headers=auth
            )

    @rule(op=st.sampled_from(["mkdir", "upload", "delete"]), path=PATHS)
    def change_at_dropbox(self, op: str, path: str) -> None:
        body: dict[str, Any] = {"op": op, "path": path}
        if op == "upload":
            body["content"] = "A at Dropbox"
        self.client.post(f"{ACCOUNTS}/alice/operations", params={"tenant": self.a.id}, json=body)

    @rule(instance=a_instances, change=st.sampled_from(["rename", "disable", "enable", "delete", "mute"]))
    def update(self, instance: dict[str, Any], change: str) -> None:
        where, auth = f"{API}/instances/{instance['id']}", self.a.auth
        if change == "rename":
            self.client.patch(where, json={"name": "renamed", "tags": ["a"]}, headers=auth)
        elif change == "disable":
            self.client.delete(f"{where}/enabled", headers=auth)
        elif change == "enable":
            self.client.put(f"{where}/enabled", headers=auth)
        elif change == "mute":
            self.client.patch(
                where, json={"configuration": {"event.notification.enabled": "false"}}, headers=auth
            )
        else:
            self.client.delete(where, headers=auth)

    @rule(statuses=st.lists(st.sampled_from([500, 503, None]), min_size=1, max_size=3))
    def receiver_fails(self, statuses: list[int | None]) -> None:
        """The shared receiver fails A's next callbacks (B sends nothing more: only A's are there)."""
        self.sender.fail(HOOK, *statuses)

    @rule(policy=st.sampled_from(["retry", "queue"]))
    def own_failure_policy(self, policy: str) -> None:
        self.client.put(f"/_emulator/organizations/{self.a.org_id}/policy", json={"policy": policy})

    @rule()
    def redeliver(self) -> None:
        self.client.put(f"{API}/notifications/subscriptions/deliveries", headers=self.a.auth)

    @rule()
    def reset_own_tenant(self) -> None:
        self.client.post(f"/_emulator/tenants/{self.a.id}/reset")

    @rule()
    def provider_webhook(self) -> None:
        """Dropbox's own notification names an account id, which A's and B's copies of alice share."""
        account_id = self.client.get(ACCOUNTS, params={"tenant": self.a.id}).json()[0]["accountId"]
        self.client.post(f"{API}/events/dropbox", json={"list_folder": {"accounts": [account_id]}})

    # -- what A tries on B's things -----------------------------------------------------------
    @rule(method=st.sampled_from(["GET", "PATCH", "PUT", "DELETE"]))
    def reach_bs_instance(self, method: str) -> None:
        where = f"{API}/instances/{self.b_instance['id']}"
        body = {"name": "taken over"} if method in ("PATCH", "PUT") else None
        for path in (where, f"{where}/enabled", f"{where}/configuration", f"{where}/events"):
            answer = self.client.request(method, path, json=body, headers=self.a.auth)
            assert answer.status_code in (404, 405), (method, path, answer.text)
        entry = self.b_config[0]["id"]
        answer = self.client.patch(
            f"{where}/configuration/{entry}", json={"propertyValue": "x"}, headers=self.a.auth
        )
        assert answer.status_code == 404, answer.text

    @rule(index=st.integers(min_value=0, max_value=2))
    def read_bs_events(self, index: int) -> None:
        event_id = self.b_events[index]
        for path in (
            f"{API}/instances/events/{event_id}",
            f"{API}/instances/{self.b_instance['id']}/events/{event_id}",
        ):
            assert self.client.get(path, headers=self.a.auth).status_code == 404

    @rule(path=PATHS)
    def use_bs_token(self, path: str) -> None:
        """B's instance token with A's user secret (and with A's organization) is no credential."""
        for header in (
            f"User {self.a.user_secret}, Element {self.b_token}",
            f"User {self.a.user_secret}, Organization {self.a.org_secret}, Element {self.b_token}",
            f"User {self.b.user_secret}, Organization {self.a.org_secret}, Element {self.b_token}",
        ):
            auth = {"Authorization": header}
            assert (
                self.client.get(f"{HUB}/files/metadata", params={"path": path}, headers=auth).status_code
                == 401
            )
            assert (
                self.client.post(f"{HUB}/folders", params={"path": "/Taken"}, headers=auth).status_code == 401
            )

    # -- the rule that binds them all -----------------------------------------------------------
    @invariant()
    def b_never_moves(self) -> None:
        assert self.view_of_b() == self.b_view

    @invariant()
    def a_sees_nothing_of_b(self) -> None:
        mine = self.client.get(f"{API}/instances", headers=self.a.auth).json()
        assert self.b_instance["id"] not in {i["id"] for i in mine}
        events = self.client.get(f"{API}/instances/events", headers=self.a.auth).json()
        assert not set(self.b_events) & {e["id"] for e in events}
        queued = self.client.get(f"{API}/notifications/subscriptions/deliveries", headers=self.a.auth).json()
        assert all(n["instanceId"] != self.b_instance["id"] for n in queued)


Isolation.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestTenantIsolation = Isolation.TestCase


def test_a_halted_queue_at_a_shared_url_holds_back_only_its_organization() -> None:
    sender = RecordingSender()
    runtime = Runtime(state_seed(load_fixture(DEFAULT_FIXTURE)), sender=sender)
    with TestClient(create_app(runtime), follow_redirects=False) as client:
        a, b = Tenant(client, HOOK), Tenant(client, HOOK)
        client.put(f"/_emulator/organizations/{a.org_id}/policy", json={"policy": "queue"})
        a_token, b_token = a.provision(client)["token"], b.provision(client)["token"]
        sender.fail(HOOK, 503)
        client.post(f"{HUB}/folders", params={"path": "/A1"}, headers=a.hub_auth(a_token))
        client.get("/_emulator/deliveries/wait", params={"attempts": 1, "timeout": 10})
        client.post(f"{HUB}/folders", params={"path": "/A2"}, headers=a.hub_auth(a_token))
        client.post(f"{HUB}/folders", params={"path": "/B1"}, headers=b.hub_auth(b_token))
        waited = client.get("/_emulator/deliveries/wait", params={"count": 1, "timeout": 10})
        assert waited.status_code == 200, waited.text
        [delivered] = waited.json()["deliveries"]
        assert delivered["body"]["response"]["events"][0]["path"] == "/b1"
        queued = client.get(f"{API}/notifications/subscriptions/deliveries", headers=a.auth).json()
        assert [n["body"]["response"]["events"][0]["path"] for n in queued] == ["/a1", "/a2"]
        states = {s["owner"]: s["state"] for s in client.get("/_emulator/subscriptions").json()}
        assert states == {str(a.org_id): "queueing", str(b.org_id): "active"}


def test_a_deleted_tenant_is_gone_and_the_others_are_untouched() -> None:
    runtime = Runtime(state_seed(load_fixture(DEFAULT_FIXTURE)), sender=RecordingSender())
    with TestClient(create_app(runtime)) as client:
        gone, kept = Tenant(client, HOOK), Tenant(client, HOOK)
        gone_instance, kept_instance = gone.provision(client), kept.provision(client)
        kept_view = client.get(f"{API}/instances", headers=kept.auth).json()

        answer = client.delete(f"/_emulator/tenants/{gone.id}")
        assert answer.status_code == 200 and answer.json() == {"id": gone.id, "status": "deleted"}

        assert client.get(f"{API}/instances", headers=gone.auth).status_code == 401
        assert client.get(f"{HUB}/ping", headers=gone.hub_auth(gone_instance["token"])).status_code == 401
        assert client.get(f"{ACCOUNTS}/alice/tree", params={"tenant": gone.id}).status_code == 404
        assert client.delete(f"/_emulator/tenants/{gone.id}").status_code == 404
        assert gone.id not in runtime.state.tenants
        assert client.get(f"{API}/instances", headers=kept.auth).json() == kept_view
        assert client.get(f"{HUB}/ping", headers=kept.hub_auth(kept_instance["token"])).status_code == 200


def test_the_default_tenant_cannot_be_deleted() -> None:
    runtime = Runtime(state_seed(load_fixture(DEFAULT_FIXTURE)), sender=RecordingSender())
    with TestClient(create_app(runtime)) as client:
        answer = client.delete("/_emulator/tenants/default")
        assert answer.status_code == 400 and "reset" in answer.json()["message"]
        assert "default" in runtime.state.tenants
