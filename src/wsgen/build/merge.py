"""Three-way merge of text, line by line, for `wsgen upgrade`.

base: what wsgen generated before; ours: the file as the user has it now;
theirs: what the current templates render. Regions changed on one side only
take that side; regions changed alike on both take either; regions changed
differently on both become a conflict with git-style markers.
"""

from __future__ import annotations

from difflib import SequenceMatcher


def _matches(base: list[str], other: list[str]) -> dict[int, int]:
    mapping: dict[int, int] = {}
    matcher = SequenceMatcher(None, base, other, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for offset in range(size):
            mapping[a + offset] = b + offset
    return mapping


def _lines(chunk: list[str]) -> list[str]:
    # A chunk at the end of a file may lack its newline; markers need one.
    if chunk and not chunk[-1].endswith("\n"):
        return [*chunk[:-1], chunk[-1] + "\n"]
    return chunk


def merge3(
    base: str, ours: str, theirs: str, *, label: str = "wsgen"
) -> tuple[str, int]:
    """Return (merged text, number of conflicts)."""
    b, o, t = (text.splitlines(keepends=True) for text in (base, ours, theirs))
    to_ours, to_theirs = _matches(b, o), _matches(b, t)
    out: list[str] = []
    conflicts = 0
    i = oi = ti = 0
    while True:
        j = i
        while j < len(b) and not (
            j in to_ours and j in to_theirs and to_ours[j] >= oi and to_theirs[j] >= ti
        ):
            j += 1
        oj, tj = (to_ours[j], to_theirs[j]) if j < len(b) else (len(o), len(t))
        base_chunk, our_chunk, their_chunk = b[i:j], o[oi:oj], t[ti:tj]
        if our_chunk == base_chunk:
            out += their_chunk
        elif their_chunk == base_chunk or our_chunk == their_chunk:
            out += our_chunk
        else:
            conflicts += 1
            out += ["<<<<<<< yours\n", *_lines(our_chunk), "||||||| generated before\n",
                    *_lines(base_chunk), "=======\n", *_lines(their_chunk),
                    f">>>>>>> {label}\n"]  # fmt: skip
        if j >= len(b):
            break
        out.append(b[j])  # unchanged on both sides
        i, oi, ti = j + 1, oj + 1, tj + 1
    return "".join(out), conflicts
