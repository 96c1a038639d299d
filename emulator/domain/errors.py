"""Typed domain errors; the web layer alone maps them to status codes and wire shapes."""

from __future__ import annotations


class DomainError(Exception):
    """A refused request. `provider_message` holds the fake provider's own words, if it refused."""

    def __init__(self, message: str, *, provider_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider_message = provider_message


class InvalidInput(DomainError):
    """Missing or malformed parameter (400)."""


class Unauthenticated(DomainError):
    """Bad or missing secret or token (401)."""


class Forbidden(DomainError):
    """Known caller, not allowed now, e.g. a disabled instance (403)."""


class NotFound(DomainError):
    """No such thing, or not visible to this caller (404)."""


class Conflict(DomainError):
    """Already exists, or clashes with what exists (409)."""


class TooLarge(DomainError):
    """Body or upload over the configured limit (413)."""


class ProviderFailure(DomainError):
    """The provider answered with an error of its own (502)."""
