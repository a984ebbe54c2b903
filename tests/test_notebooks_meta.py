"""Notebook hygiene: every notebook opens in JupyterLab on the Python 3 kernel (a kernelspec that nbdev_clean keeps),
declares papermill parameters that papermill can parse, and references no path outside the repository and no
document that does not ship."""
import json
import re
from pathlib import Path

import pytest

from _clean_env import REPO
from morebench.bench import load_manifest, notebook_parameters

NOTEBOOKS = sorted([*REPO.glob("nbs/*.ipynb"), *REPO.glob("more_nb/*.ipynb")])
KERNELSPEC = {"display_name": "python3", "language": "python", "name": "python3"}  # as .ci/add_kernelspec.py writes

# Machine-specific absolute paths, a home folder, and the contributors' sample-data folder beside the checkout
# (../shared/data: it does not ship).
OUTSIDE = re.compile(r"(?<![\w.])(/work/|/home/|/Users/|~/|(\.\./)+shared\b)")
RELATIVE = re.compile(r"""["'`]((?:\.\./)+[\w.-][^"'`\s]*)""")  # quoted relative paths that climb up

def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _text(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in _nb(path)["cells"])


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.name}"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) > 10 and REPO.joinpath("nbs/index.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_kernelspec(path):
    assert _nb(path).get("metadata", {}).get("kernelspec") == KERNELSPEC, \
        f"{path.name}: no Python 3 kernelspec (run python .ci/add_kernelspec.py)"


def test_nbdev_clean_keeps_the_kernelspec():
    from nbdev.clean import clean_nb
    from nbdev.config import get_config

    nb = {"metadata": {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}, "cells": []}
    clean_nb(nb, allowed_metadata_keys=get_config(path=REPO).get("allowed_metadata_keys").split())
    assert nb["metadata"] == {"kernelspec": KERNELSPEC}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_no_path_outside_the_repository(path):
    text = _text(path)
    hits = [m.group(0) for m in OUTSIDE.finditer(text)]
    for m in RELATIVE.finditer(text):  # a relative path, read from the notebook's folder, must stay in the checkout
        target = (path.parent / m.group(1)).resolve()
        if REPO not in (target, *target.parents):
            hits.append(m.group(1))
    assert not hits, f"{path.name} references paths outside the repository: {hits}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_id)
def test_no_paper_spec(path):
    n = _text(path).count("PAPER_SPEC")
    assert n == 0, f"{path.name} cites PAPER_SPEC {n} times (it does not ship)"


def test_benchmark_parameters_parse():
    """papermill skips a parameter line it cannot parse (e.g. an `=` in the comment) with a warning only."""
    for e in load_manifest(REPO / "more_nb" / "manifest.yaml"):
        nb = _nb(REPO / "more_nb" / e.notebook)
        (cell,) = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assigned = [ln.split(":")[0].split("=")[0].strip() for ln in "".join(cell["source"]).splitlines()
                    if ln.strip() and not ln.lstrip().startswith("#")]
        assert list(notebook_parameters(REPO / "more_nb" / e.notebook)) == assigned, e.notebook
        assert {"data_root", "out_dir", "seed"} <= set(assigned), e.notebook


def test_index_is_the_readme():
    """nbs/index.ipynb (the docs' home page, settings.ini readme_nb) says what README.md says."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(REPO / ".ci" / "sync_index.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
