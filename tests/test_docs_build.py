"""`nbdev_docs` runs nbdev's docs processors on every notebook before Quarto renders it; they execute the exported
cells, `show_doc` cells and every cell that holds an import (so a test cell that imports something and uses a name
from another test cell breaks the docs build with a NameError, as `shutil.rmtree(tmp)` did). Quarto itself is not
needed for this part, so it runs here without it."""
import subprocess
import sys

import pytest

from _clean_env import REPO

SCRIPT = """
import sys, tempfile, warnings
from pathlib import Path
import nbdev.serve_drv as drv
from nbdev.processors import FilterDefaults
warnings.simplefilter("ignore")
out = Path(tempfile.mkdtemp())
for nb in sorted(Path("nbs").glob("*.ipynb")):
    try:
        drv.main((nb, out / nb.name, FilterDefaults))
        print("OK", nb.name, flush=True)
    except Exception as e:
        print("FAIL", nb.name, str(e).replace(chr(10), " ")[:300], flush=True)
"""


@pytest.mark.slow
def test_docs_processors_run_every_notebook():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(("OK ", "FAIL "))]
    assert len(lines) == len(list(REPO.glob("nbs/*.ipynb"))), r.stdout[-3000:]
    failed = [ln for ln in lines if ln.startswith("FAIL ")]
    assert not failed, "\n".join(failed)
