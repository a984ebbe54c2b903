"""Smoke run of the main job: `morebench paper` on a tiny synthetic cohort runs every benchmark notebook of
more_nb/manifest.yaml and each writes the files the manifest promises, labelled synthetic."""
import json
from pathlib import Path

import pandas as pd

from morebench.bench import load_manifest, main_paper

MORE_NB = Path(__file__).resolve().parent.parent / "more_nb"


def test_manifest_is_consistent():
    entries = load_manifest(MORE_NB / "manifest.yaml")
    assert entries and len({e.name for e in entries}) == len(entries)
    for e in entries:
        nb = json.loads((MORE_NB / e.notebook).read_text())
        tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
        assert any("parameters" in t for t in tags), f"{e.notebook}: no cell tagged 'parameters'"


def test_paper_job_on_tiny_cohort(tmp_path):
    out = tmp_path / "out"
    rc = main_paper(["--out", str(out), "--patients", "12", "--seed", "0"])
    status = json.loads((out / "status.json").read_text())
    assert rc == 0, status
    for e in load_manifest(MORE_NB / "manifest.yaml"):
        assert status[e.name] == "ok"
        for f in e.outputs:
            assert (out / e.name / f).is_file(), f"{e.name}: {f} missing"
            if f.endswith(".json"):
                assert json.loads((out / e.name / f).read_text())["synthetic"] is True
    md = (out / "t_data" / "t_data.md").read_text()
    assert "SYNTHETIC DATA" in md
    table = pd.read_csv(out / "t_data" / "t_data.csv")
    assert table["paper records"].isna().all()  # the paper's numbers are unknown: never filled in
    assert (table.unreadable == 0).all()


def test_paper_job_that_runs_no_notebook_fails(tmp_path, capsys):
    """An empty manifest (or a package without its notebooks) must not end in 'ok' with exit code 0."""
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "manifest.yaml").write_text("[]\n")
    rc = main_paper(["--out", str(tmp_path / "out"), "--patients", "4", "--notebooks", str(tmp_path / "nbs")])
    assert rc == 1
    assert "no benchmark notebook ran" in capsys.readouterr().err
    rc = main_paper(["--out", str(tmp_path / "out"), "--notebooks", str(tmp_path / "nowhere")])
    assert rc == 2 and "benchmark manifest not found" in capsys.readouterr().err


def test_manifest_parameter_typo_fails_before_any_work(tmp_path, capsys):
    """papermill only warns about an undeclared parameter; the runner refuses it before building the cohort."""
    import shutil

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    shutil.copy(MORE_NB / "t_data_statistics.ipynb", nbs)
    (nbs / "manifest.yaml").write_text("- {name: t_data, artifact: T, notebook: t_data_statistics.ipynb, params: {profle: cpu}}\n")
    rc = main_paper(["--out", str(tmp_path / "out"), "--notebooks", str(nbs)])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown parameter(s) profle" in err and "data_root" in err, err
    assert not (tmp_path / "out").exists()
