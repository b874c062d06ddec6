"""The JSON Schema of wsgen's `--json` output, kept as a packaged file.

Read only by `wsgen schema` and by tests, so no other run pays for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("schema.json")


def schema_text() -> str:
    return SCHEMA_FILE.read_text(encoding="utf-8")


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_text())
    return schema
