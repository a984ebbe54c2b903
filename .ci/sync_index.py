#!/usr/bin/env python3
"""Write nbs/index.ipynb (settings.ini readme_nb: the docs' home page, from which `nbdev_docs` renders README.md)
from README.md, so the two say the same: every ```python block becomes a code cell (run by nbdev_test), the rest
markdown cells, one per `## ` section.

    python .ci/sync_index.py          # rewrite nbs/index.ipynb
    python .ci/sync_index.py --check  # exit 1 if it differs from what README.md gives
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README, INDEX = ROOT / "README.md", ROOT / "nbs" / "index.ipynb"
KERNELSPEC = {"display_name": "python3", "language": "python", "name": "python3"}  # as .ci/add_kernelspec.py


def lines(text: str) -> list[str]:
    return text.strip("\n").splitlines(keepends=True)


def cells_from(readme: str) -> list[dict]:
    cells = []
    parts = re.split(r"^```python\n(.*?)^```\n", readme, flags=re.S | re.M)  # text, code, text, code, ...
    for i, part in enumerate(parts):
        if i % 2:  # code
            cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                          "source": lines(part)})
            continue
        for section in re.split(r"(?=^## )", part, flags=re.M):
            if section.strip():
                cells.append({"cell_type": "markdown", "metadata": {}, "source": lines(section)})
    for i, c in enumerate(cells):
        c["id"] = f"readme{i:02d}"
    return cells


def render() -> str:
    nb = {"cells": cells_from(README.read_text(encoding="utf-8")), "metadata": {"kernelspec": KERNELSPEC},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    new = render()
    old = INDEX.read_text(encoding="utf-8") if INDEX.exists() else None
    if "--check" in argv:
        if new != old:
            print(f"{INDEX.relative_to(ROOT)} differs from README.md: run python .ci/sync_index.py")
            return 1
        return 0
    if new != old:
        INDEX.write_text(new, encoding="utf-8")
        print(f"wrote {INDEX.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
