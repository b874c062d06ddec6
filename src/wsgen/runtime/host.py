"""What the WebSocket runtime reads from this project: written by wsgen.

Every other module of this package is the same in every project; this one
holds what wsgen found here. Edit it freely (``wsgen check`` reports it).
"""

from __future__ import annotations

from typing import Any

# The claim that names the user in this project's tokens (``WS_JWT_USER_CLAIM``
# overrides it); tokens without it fall back to ``sub``.
USER_CLAIM = "sub"


def jwt_settings() -> tuple[Any, Any] | None:
    """The host's JWT secret and algorithm, or None: ``WS_JWT_*`` only.

    No host settings were found (or ``--no-host-jwt`` was given); to read
    yours, return ``(settings.SECRET_KEY, settings.ALGORITHM)`` here.
    """
    return None
