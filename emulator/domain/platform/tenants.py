"""Organizations, their users, and the tenants that isolate one test worker's world from another's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

FailurePolicy = Literal["retry", "queue"]
FAILURE_POLICIES: tuple[FailurePolicy, ...] = ("retry", "queue")


class User(NamedTuple):
    id: int
    secret: str
    email: str
    first_name: str
    last_name: str

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "emailAddress": self.email,
            "firstName": self.first_name,
            "lastName": self.last_name,
        }


@dataclass(slots=True)
class Organization:
    id: int
    name: str
    secret: str
    users: tuple[User, ...]
    tenant: str
    failure_policy: FailurePolicy = "retry"

    def user_by_secret(self, secret: str) -> User | None:
        for user in self.users:  # a loop, not next(generator): every platform request asks
            if user.secret == secret:
                return user
        return None


@dataclass(slots=True)
class Caller:
    """Who a platform request speaks for, once its secrets checked out."""

    organization: Organization
    user: User


@dataclass(slots=True)
class TenantInfo:
    id: str
    organization_ids: list[int] = field(default_factory=list)
