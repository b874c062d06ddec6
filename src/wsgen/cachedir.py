"""Where wsgen keeps what it can recompute: per user, never in the project."""

from __future__ import annotations

import os


def user_cache_dir(name: str) -> str | None:
    """``$XDG_CACHE_HOME/wsgen/<name>`` (default ``~/.cache``), created on
    demand; None when it cannot be created (read-only home): callers then
    work uncached."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    directory = os.path.join(base, "wsgen", name)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    return directory
