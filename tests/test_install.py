"""The pip-install path: build the wheel from this checkout, install it with --no-deps into a temporary venv that
sees the dev venv's packages (nothing is downloaded), and use it from outside the repository as a user would:
`morebench --help`, `create_model('tiny')`, `morebench paper --only ...` on a tiny cohort (the benchmark notebooks
must come from the installed package), and the argument errors. The clean install with dependencies is the GitHub
workflow's `wheel` job."""
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from _clean_env import REPO, files_under, user_env

SOURCES = ["setup.py", "settings.ini", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "morebench", "more_nb"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built (sdist -> wheel, no isolation) from a copy of the checkout's packaging sources."""
    d = tmp_path_factory.mktemp("build")
    src = d / "src"
    src.mkdir()
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
        else:
            shutil.copy2(p, src / name)
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(d / "dist"), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (whl,) = (d / "dist").glob("morebench-*.whl")
    return whl


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("morebench/more_nb/")}
    assert shipped == {p.name for p in (REPO / "more_nb").iterdir() if p.suffix in (".ipynb", ".yaml")}
    assert "morebench/presets/tiny.json" in names
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "Requires-Dist: ipykernel" in meta and "Development Status :: 3 - Alpha" in meta
    ep = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "morebench = morebench.bench:console_main" in ep


@pytest.mark.slow
def test_installed_wheel_runs_outside_the_checkout(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "dev-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # the dev venv's packages, after ours
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    env = user_env(home, tmp_path / "scratch")  # no PYTHONPATH: only the installed package is importable

    def run(*args, timeout=120):
        return subprocess.run(list(args), cwd=work, env=env, capture_output=True, text=True, timeout=timeout)

    r = run(str(py), "-c", "import morebench, morebench.model as m; print(morebench.__file__); "
                           "print(sum(p.numel() for p in m.create_model('tiny').parameters()))")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith(str(purelib / "morebench")), r.stdout  # the wheel, not the checkout
    assert int(r.stdout.split()[-1]) > 0
    cli = str(venv / "bin" / "morebench")
    r = run(cli, "--help")
    assert r.returncode == 0 and "paper" in r.stdout, r.stderr
    r = run(cli, "paper", "--only", "t_dat", "--out", "o")
    assert r.returncode == 2 and "unknown benchmark name(s) t_dat; known: t_data" in r.stderr, r.stderr
    assert not (work / "o").exists()
    r = run(cli, "paper", "--only", "t_data", "--patients", "12", "--out", "o", timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"benchmark notebooks: {purelib / 'morebench' / 'more_nb'}" in r.stdout
    assert (work / "o" / "tables" / "t_data.csv").is_file()
    assert "1 notebook(s) run" in r.stdout
    assert files_under(home) == [], files_under(home)
