#!/usr/bin/env python3
"""Give every notebook (nbs/*.ipynb, more_nb/*.ipynb) the Python 3 kernelspec, in the exact form `nbdev_clean` keeps
(settings.ini: allowed_metadata_keys = kernelspec; nbdev_clean sets display_name = name), so JupyterLab opens them
without a "Select Kernel" dialog and saving does not churn the diff. Idempotent: re-run it after merging notebooks.

    python .ci/add_kernelspec.py          # rewrite the notebooks that lack it
    python .ci/add_kernelspec.py --check  # exit 1 and list them instead
"""
import json
import sys
from pathlib import Path

KERNELSPEC = {"display_name": "python3", "language": "python", "name": "python3"}
ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("nbs", "more_nb")


def notebooks() -> list[Path]:
    return sorted(p for d in FOLDERS for p in (ROOT / d).glob("*.ipynb"))


def dump(nb: dict) -> str:
    """The notebook as nbdev/execnb writes it (sorted keys, indent 1, UTF-8, final newline)."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    todo = []
    for path in notebooks():
        nb = json.loads(path.read_text(encoding="utf-8"))
        if nb.get("metadata", {}).get("kernelspec") != KERNELSPEC:
            todo.append(path)
            if not check:
                nb.setdefault("metadata", {})["kernelspec"] = dict(KERNELSPEC)
                path.write_text(dump(nb), encoding="utf-8")
    for path in todo:
        print(f"{'lacks' if check else 'set'} kernelspec: {path.relative_to(ROOT)}")
    return 1 if check and todo else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
