"""The one conversion of a typed record to and from XCom, which carries plain JSON data only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, Self


class XComRecord:
    """Mixin of a frozen dataclass that a task returns or receives: plain data out, the record back in."""

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_xcom(cls, data: Mapping[str, Any]) -> Self:
        return cls(**data)
