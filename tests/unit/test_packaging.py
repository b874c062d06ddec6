"""The wheel ships every source file: hatch leaves out what .gitignore names."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(),
    reason="needs a git checkout",
)
def test_no_packaged_file_is_ignored() -> None:
    packaged = _git("ls-files", "src", "templates").stdout.split()
    assert packaged, "no tracked files under src/ or templates/"
    # --no-index: ask the ignore rules themselves, tracked or not.
    ignored = _git("check-ignore", "--no-index", *packaged).stdout.split()
    assert ignored == [], f".gitignore keeps these out of the wheel: {ignored[:5]}"


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(),
    reason="needs a git checkout",
)
def test_every_package_folder_has_a_tracked_init() -> None:
    tracked = set(_git("ls-files", "src/wsgen").stdout.split())
    folders = {str(Path(p).parent) for p in tracked if p.endswith(".py")}
    missing = sorted(f for f in folders if f"{f}/__init__.py" not in tracked)
    assert missing == [], f"package folders without a tracked __init__.py: {missing}"
