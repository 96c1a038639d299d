"""The two spellings of one API (DESIGN.md section 3): the only place that knows them."""

from __future__ import annotations

from typing import NamedTuple


class Dialect(NamedTuple):
    name: str  # also the path segment: /{name}/api-v2
    singular: str  # JSON key of the connector object, Authorization word
    header_prefix: str  # Elements-Async-Request, Your_moms-Webhook-Id, ...

    @property
    def base(self) -> str:
        return f"/{self.name}/api-v2"

    @property
    def auth_word(self) -> str:
        return self.singular.capitalize()

    def header(self, suffix: str) -> str:
        return f"{self.header_prefix}-{suffix}"


ELEMENTS = Dialect(name="elements", singular="element", header_prefix="Elements")
YOUR_MOMS = Dialect(name="your_moms", singular="your_mom", header_prefix="Your_moms")
DIALECTS: dict[str, Dialect] = {d.name: d for d in (ELEMENTS, YOUR_MOMS)}
DEFAULT_DIALECT = ELEMENTS


def dialect_named(name: str) -> Dialect:
    return DIALECTS[name]


def header_variants(suffix: str) -> tuple[str, ...]:
    """Every spelling of a platform header, lower-cased, for case-insensitive lookup."""
    return tuple(d.header(suffix).lower() for d in DIALECTS.values())


def auth_words() -> tuple[str, ...]:
    """Lower-cased words that introduce the instance token in an Authorization header."""
    return tuple(d.singular for d in DIALECTS.values())
