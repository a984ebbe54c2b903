"""Nothing we ship writes into `~`: the `morebench` command (its process and the papermill kernels it starts) is run
with HOME pointed at an empty folder — for that subprocess only; the test run's own HOME is never changed — and the
folder must stay empty. Numba's, IPython's, Jupyter's and Matplotlib's state goes to MOREBENCH_SCRATCH instead."""
import subprocess
import sys

import pytest

from _clean_env import REPO, files_under, user_env

# the console script's entry point (settings.ini console_scripts), started with this interpreter and this checkout
MOREBENCH = [sys.executable, "-c", "import sys; from morebench.bench import console_main; sys.exit(console_main(sys.argv[1:]))"]


@pytest.mark.slow
def test_cli_writes_nothing_into_home(tmp_path):
    home, scratch, out = tmp_path / "home", tmp_path / "scratch", tmp_path / "out"
    home.mkdir()
    env = user_env(home, scratch, keep_pythonpath=True)
    env["PYTHONPATH"] = str(REPO)  # this checkout's package, as under `make`
    r = subprocess.run([*MOREBENCH, "paper", "--only", "f_ecg_preprocessing", "--patients", "12", "--out", str(out)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (out / "figures" / "f_ecg_preprocessing.png").is_file()
    r = subprocess.run([*MOREBENCH, "data", "summary", "ptbxl", "--root", str(out / "cohort" / "ptbxl"), "--json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert files_under(home) == [], f"written into HOME: {files_under(home)}"
    assert (scratch / "ipython").is_dir(), files_under(scratch)  # the kernel's IPython state went to the scratch folder
