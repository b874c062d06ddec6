"""An endpoint's options: one typed home, read from and written to the manifest.

A run is told some options (`Choices`; None: not given). Over the options an
endpoint already has in the manifest, or over DEFAULTS for a new one, they
give what the run generates: a re-run never turns off what was chosen
unless told to (`--no-auth`), and a terminal and `--yes` start from the
same defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class EndpointOptions:
    auth: bool = False
    rooms: bool = False
    broadcast: bool = False
    message_types: tuple[str, ...] = ()
    path: str | None = None  # None: /ws/NAME
    client: str | None = None  # None: js with rooms or broadcast, else none
    backend: str | None = None  # None: memory
    template: str | None = None  # a copier template for the endpoint's files
    app: str | None = None  # MODULE:ATTR; None: discovered
    accelerator: str | None = None  # a server integration; None: none
    asyncapi: bool = False  # an AsyncAPI 3.0 document beside the route module
    auth_with: str | None = None  # the host's MODULE:FUNC checking tokens
    recover: bool = False  # room history replayed to clients that rejoin

    @classmethod
    def from_record(cls, options: dict[str, Any]) -> EndpointOptions:
        """The options of an endpoint as the manifest records them."""
        return cls(
            auth=bool(options.get("auth")),
            rooms=bool(options.get("rooms")),
            broadcast=bool(options.get("broadcast")),
            message_types=tuple(options.get("message_types") or ()),
            path=options.get("path"),
            client=options.get("client"),
            backend=options.get("backend"),
            template=options.get("template"),
            app=options.get("app"),
            accelerator=options.get("accelerator"),
            asyncapi=bool(options.get("asyncapi")),
            auth_with=options.get("auth_with"),
            recover=bool(options.get("recover")),
        )


# The defaults of a new endpoint, with and without a terminal (README:
# "Defaults"): the smallest endpoint; the plan warns that it is unauthenticated.
DEFAULTS = EndpointOptions()


@dataclass(frozen=True)
class Choices:
    """What one run was told; None: not given, keep what is there."""

    auth: bool | None = None
    rooms: bool | None = None
    broadcast: bool | None = None
    message_types: tuple[str, ...] | None = None
    path: str | None = None
    client: str | None = None
    backend: str | None = None
    template: str | None = None
    app: str | None = None
    accelerator: str | None = None
    asyncapi: bool | None = None
    auth_with: str | None = None  # "none": back to wsgen's own JWT checks
    recover: bool | None = None

    def over(self, base: EndpointOptions) -> EndpointOptions:
        given = {
            f.name: value
            for f in fields(self)
            if (value := getattr(self, f.name)) is not None
        }
        return replace(base, **given)

    def kept(self, base: EndpointOptions) -> list[tuple[str, str | None]]:
        """What ``base`` has that this run did not mention, away from the
        defaults, as command-line flags, each with the flag that turns it
        off (None: no single flag does): a re-run says what it kept."""
        kept: list[tuple[str, str | None]] = []
        for name in ("auth", "rooms", "broadcast", "asyncapi", "recover"):
            if getattr(self, name) is None and getattr(base, name):
                flag = name.replace("_", "-")
                kept.append((f"--{flag}", f"--no-{flag}"))
        if self.message_types is None:
            kept += [(f"-m {kind}", None) for kind in base.message_types]
        if self.backend is None and base.backend not in (None, "memory"):
            kept.append((f"--backend {base.backend}", "--backend memory"))
        if self.accelerator is None and base.accelerator not in (None, "none"):
            kept.append((f"--accelerator {base.accelerator}", "--accelerator none"))
        if self.auth_with is None and base.auth_with not in (None, "none"):
            kept.append((f"--auth-with {base.auth_with}", "--auth-with none"))
        return kept

    @property
    def features_given(self) -> bool:
        return any(
            v is not None
            for v in (self.auth, self.rooms, self.broadcast, self.message_types)
        )
