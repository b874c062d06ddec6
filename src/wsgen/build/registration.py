"""What the registration edit adds: one import and one include, as data.

Kept apart from `register` so that callers can name a registration without
loading libcst.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Registration:
    import_module: str  # "app.routers.chat" or ".routers.chat"
    alias: str  # "chat_ws_router"
    receiver: str  # "app", "application", "api_router"
    scope: str | None  # enclosing function of the receiver, None at module level
    file: str  # for messages
    line: int  # where a person would add the include, for messages
    # Top-level names ruff's isort counts as first-party here (the project's
    # own packages and modules): the section the import joins.
    first_party: frozenset[str] = frozenset()

    @property
    def import_line(self) -> str:
        return f"from {self.import_module} import router as {self.alias}"

    @property
    def include_line(self) -> str:
        return f"{self.receiver}.include_router({self.alias})"


@dataclass(frozen=True)
class RegistrationEdit:
    new_source: bytes
    added_import: bool
    added_include: bool

    @property
    def changed(self) -> bool:
        return self.added_import or self.added_include
