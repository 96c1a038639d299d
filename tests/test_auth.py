"""The Authorization header in every spelling the platform's clients send."""

from __future__ import annotations

import pytest

from emulator.domain.errors import Unauthenticated
from emulator.web.auth import Credentials, parse_authorization


@pytest.mark.parametrize(
    "header",
    [
        "User u1, Organization o1, Element t/1+=",
        "Element t/1+=, User u1, Organization o1",
        "User u1, Organization o1, Element: t/1+=",
        "user u1 , organization o1 , your_mom t/1+=",
        "User u1, Organization o1, Your_mom t/1+=",
    ],
)
def test_every_spelling_gives_the_same_credentials(header: str) -> None:
    assert parse_authorization(header) == Credentials("u1", "o1", "t/1+=")


def test_guide_hub_spelling_without_organization() -> None:
    assert parse_authorization("User u1, Your_mom tok") == Credentials("u1", None, "tok")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer abc",
        "User",
        "User u1, Organization",
        "User u1, User u2",
        "User u1 extra, Organization o",
    ],
)
def test_bad_or_partial_headers_are_refused(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        parse_authorization(header)


def test_refusal_never_echoes_a_whole_secret() -> None:
    secret = "s" * 100
    with pytest.raises(Unauthenticated) as refused:
        parse_authorization(f"Bogus {secret}")
    assert secret not in refused.value.message
