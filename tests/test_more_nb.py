"""The benchmark suite end to end: `morebench paper --profile ci` runs every notebook of more_nb/manifest.yaml on a
tiny synthetic cohort (papermill, a few training steps), and each artifact exists with the expected columns, finite
values in range, SYNTHETIC labels, and a report whose links resolve. Plus: the runner's failure path, parameters
cells that papermill can read (and that survive nbdev_clean), and byte-identical CSV tables for one seed."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from morebench.bench import load_manifest, main_paper, notebook_parameters

MORE_NB = Path(__file__).resolve().parent.parent / "more_nb"
ENTRIES = load_manifest(MORE_NB / "manifest.yaml")

# table -> (columns it must have, columns whose values must be finite rates in [0, 1])
TABLES = {
    "t_data": (["dataset", "train", "val", "test", "records", "unreadable", "paper records"], []),
    "t_zeroshot": (["dataset", "modality", "model", "metric", "value", "ci_low", "ci_high", "paper value"], ["value", "ci_low", "ci_high"]),
    "t_probe": (["task", "model", "labels %", "n_train", "macro AUROC", "sd over draws", "paper macro AUROC"], ["macro AUROC"]),
    "t_probe_per_label": (["task", "model", "label", "AUROC", "AUPRC", "paper AUROC"], []),
    "t_label_efficiency": (["task", "model", "fraction", "draw", "macro_auroc"], ["macro_auroc"]),
    "t_retrieval": (["query", "gallery", "model", "N", "R@1", "R@5", "MRR", "median_rank", "P@1", "paper R@5"], ["R@1", "R@5", "MRR", "P@1"]),
    "t_hparams": (["group", "hyper-parameter", "value used", "morebench paper recipe", "paper value"], []),
    "t_tsne_silhouette": (["model", "points", "silhouette (cosine)"], []),
    "t_loss_zoo": (["objective", "status", "zero-shot macro AUROC", "zero-shot ci_low", "probe macro AUROC", "text->ECG R@5"], []),
    "t_finetune": (["task", "model", "mode", "n_train", "n_test", "steps", "macro AUROC", "ci_low", "ci_high", "paper macro AUROC"],
                   ["macro AUROC", "ci_low", "ci_high"]),
    "t_finetune_per_label": (["task", "model", "mode", "label", "AUROC", "AUPRC", "paper AUROC"], []),
    "t_edema": (["method", "model", "n_train", "n_test", "grades in test", "metric", "value", "ci_low", "ci_high", "paper value"], []),
    "t_edema_per_grade": (["method", "model", "grade", "AUROC"], []),
    "t_missing_modality": (["model", "modalities", "condition", "n_train", "n_test", "macro AUROC", "ci_low", "ci_high", "log loss",
                            "paper macro AUROC"], ["macro AUROC", "ci_low", "ci_high"]),
    "t_missing_modality_per_label": (["model", "condition", "label", "AUROC", "AUPRC"], []),
    "t_relevance_sanity": (["model", "modality", "test", "value", "ci_low", "ci_high", "n", "paper value"], []),
    "t_ablation": (["factor", "level", "run", "reference", "status", "trainable params", "trainable %", "text trainable %",
                    "probe macro AUROC", "probe ci_low", "probe ci_high", "text->ECG R@5", "text->X-ray R@5",
                    "paper probe macro AUROC"], ["probe macro AUROC", "probe ci_low", "probe ci_high", "text->ECG R@5",
                                                 "text->X-ray R@5"]),
    "t_compute": (["run", "objective", "status", "steps", "wall s", "samples/s", "peak RSS MB", "device",
                   "paper training time"], []),
}
NO_PAPER_COLUMN = ("t_label_efficiency", "t_tsne_silhouette", "t_edema_per_grade", "t_missing_modality_per_label")


def test_manifest_is_consistent():
    assert ENTRIES and len({e.name for e in ENTRIES}) == len(ENTRIES)
    for e in ENTRIES:
        nb = json.loads((MORE_NB / e.notebook).read_text())
        tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
        assert sum("parameters" in t for t in tags) == 1, f"{e.notebook}: needs exactly one cell tagged 'parameters'"
        assert set(e.needs) <= {"more", "zoo", "ablations"}, e


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_parameter_line_is_read_by_papermill(entry):
    """papermill silently skips a parameter line it cannot parse (e.g. quotes in the comment): then the runner's
    value is never injected. Every assignment of the parameters cell must come back from papermill's parser."""
    nb = json.loads((MORE_NB / entry.notebook).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    declared = [m.group(1) for ln in "".join(cell["source"]).splitlines() if (m := re.match(r"^(\w+)\s*:", ln))]
    assert declared == list(notebook_parameters(MORE_NB / entry.notebook)), entry.notebook
    for p in ("data_root", "out_dir", "seed", "profile"):
        assert p in declared, f"{entry.notebook}: lacks the uniform parameter {p}"
    if entry.needs:
        assert {"checkpoint", "checkpoints"} & set(declared), entry.notebook


def test_parameters_cells_survive_nbdev_clean(tmp_path):
    for e in ENTRIES:
        shutil.copy(MORE_NB / e.notebook, tmp_path)
    before = {e.notebook: notebook_parameters(tmp_path / e.notebook) for e in ENTRIES}
    nbdev_clean = Path(sys.executable).with_name("nbdev_clean")
    for e in ENTRIES:
        r = subprocess.run([str(nbdev_clean), "--fname", str(tmp_path / e.notebook)], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert {e.notebook: notebook_parameters(tmp_path / e.notebook) for e in ENTRIES} == before


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    """One `morebench paper --profile ci` over every notebook (two at once)."""
    out = tmp_path_factory.mktemp("paper") / "out"
    rc = main_paper(["--profile", "ci", "--out", str(out), "--seed", "0", "--jobs", "2"])
    return rc, out, json.loads((out / "status.json").read_text())


@pytest.mark.slow
def test_every_notebook_runs_and_writes_its_artifacts(ci_run):
    rc, out, status = ci_run
    res = {r["name"]: r for r in status["results"]}
    assert rc == 0, {k: (v["status"], v["executed"]) for k, v in res.items()} | {"runs": [r["error"] for r in status["runs"]]}
    assert set(res) == {e.name for e in ENTRIES}
    for e in ENTRIES:
        r = res[e.name]
        assert r["status"] == "ok" and Path(r["executed"]).is_file(), r
        assert r["wall_time_s"] > 0 and r["peak_rss_mb"] > 50 and r["device"] == "cpu", r
        have = {Path(p).name: out / p for v in r["outputs"].values() for p in v}
        for f in e.outputs:
            assert f in have and have[f].stat().st_size > 0, f"{e.name}: {f} missing"
            if f.endswith(".json"):
                doc = json.loads(have[f].read_text())
                assert doc["synthetic"] is True and doc["git_sha"] and doc["compute"]["peak_rss_mb"] > 0
    for run in status["runs"]:  # pre-trained once per objective, best/last as safetensors
        assert run["error"] is None and Path(run["checkpoint"], "model.safetensors").is_file(), run
        assert Path(run["run"]).parent == out / "runs"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_have_columns_and_sane_values(ci_run, name):
    _, out, _ = ci_run
    cols, rates = TABLES[name]
    df = pd.read_csv(out / "tables" / f"{name}.csv")
    assert len(df) and set(cols) <= set(df.columns), (name, list(df.columns))
    for c in rates:
        v = df[c].to_numpy(float)
        assert np.isfinite(v).all() and ((v >= 0) & (v <= 1)).all(), (name, c, v)
    paper_cols = [c for c in df.columns if c.startswith("paper")]
    assert all(df[c].isna().all() for c in paper_cols), name  # never invented
    if name not in NO_PAPER_COLUMN:  # raw draws / side numbers: no paper column
        assert paper_cols, name
    assert "SYNTHETIC DATA" in (out / "tables" / f"{name}.md").read_text()


@pytest.mark.slow
def test_loss_zoo_compares_every_trained_objective(ci_run):
    _, out, _ = ci_run
    z = pd.read_csv(out / "tables" / "t_loss_zoo.csv").set_index("objective")
    assert list(z[z.status == "ok"].index) == ["more", "siglip"]
    assert np.isfinite(z.loc["siglip", ["zero-shot delta vs more", "zero-shot p", "probe p"]].to_numpy(float)).all()


@pytest.mark.slow
def test_downstream_tables_cover_both_models_and_every_condition(ci_run):
    """The fine-tuning, edema and missing-modality tables: pre-trained and random-init rows, the ci profile's step
    budget, the three modality sets, and edema rates that are finite (its AUROC only where the test set has 2 grades)."""
    from morebench.bench import PROFILES

    _, out, _ = ci_run
    ft = pd.read_csv(out / "tables" / "t_finetune.csv")
    assert set(ft.model) == {"pre-trained", "random init"} and set(ft["mode"]) == set(PROFILES["ci"]["finetune_modes"])
    assert set(ft.task) == {"PTB-XL superclass (ECG)", "CheXpert competition 5 (X-ray)"}
    assert (ft.steps == PROFILES["ci"]["finetune_steps"]).all() and (ft.n_train <= PROFILES["ci"]["max_records"]).all()
    ed = pd.read_csv(out / "tables" / "t_edema.csv")
    assert set(ed.method) == {"linear probe", "partial fine-tune"} and set(ed.model) == {"pre-trained", "random init"}
    assert set(ed.metric) == {"accuracy", "macro F1", "macro AUROC"} and ed["paper value"].isna().all()
    rates = ed[ed.metric != "macro AUROC"][["value", "ci_low", "ci_high"]].to_numpy(float)
    assert np.isfinite(rates).all() and ((rates >= 0) & (rates <= 1)).all()
    auc = ed[ed.metric == "macro AUROC"]
    assert (auc["grades in test"] >= 2).all() == np.isfinite(auc.value.to_numpy(float)).all()
    mm = pd.read_csv(out / "tables" / "t_missing_modality.csv")
    assert len(mm) == 6 and set(mm.condition) == {"both", "xray_only", "ecg_only"}
    assert (mm.groupby("model").condition.nunique() == 3).all() and (mm["log loss"] > 0).all()


@pytest.mark.slow
def test_ablations_train_every_switch_and_report_it(ci_run):
    _, out, status = ci_run
    a = pd.read_csv(out / "tables" / "t_ablation.csv")
    assert (a.status == "ok").all(), a[["run", "status"]]
    assert set(a.run) == {"reference", "dropkey-linear", "dropkey-off", "text-tower-frozen", "text-tower-full-fine-tuning",
                          "modalities-x-ray-text-no-ecg"}
    share = a.groupby("run")["text trainable %"].first()
    assert share["text-tower-frozen"] == 0 and share["text-tower-full-fine-tuning"] == 100 and 0 < share["reference"] < 1
    runs = {Path(r["run"]).name: r for r in status["runs"]}
    for v in set(a.run):  # one run folder per variant, trained with its switch
        cfg = json.loads((out / "runs" / f"tiny-ablation-{v}" / "config.json").read_text())
        assert runs[f"tiny-ablation-{v}"]["error"] is None and (v == "reference") == (cfg["model_overrides"] == {}), (v, cfg)
    assert json.loads((out / "runs" / "tiny-ablation-modalities-x-ray-text-no-ecg" / "config.json").read_text()
                      )["_model"]["loss_kwargs"]["ecg_weight"] == 0.0


@pytest.mark.slow
def test_compute_table_lists_every_pretraining_run(ci_run):
    _, out, status = ci_run
    c = pd.read_csv(out / "tables" / "t_compute.csv")
    runs = c[c.run != "all runs"].set_index("run")
    assert set(runs.index) == {Path(r["run"]).name for r in status["runs"]}
    assert (runs.status == "ok").all() and (runs["wall s"] > 0).all() and (runs["peak RSS MB"] > 50).all(), runs
    assert (runs.steps == 2).all() and (runs.device == "cpu").all() and runs["evaluated by the main tables"].sum() == 1
    for name in runs.index:  # the trainer's own record, not the runner's
        assert json.loads((out / "runs" / name / "compute.json").read_text())["steps"] == 2


@pytest.mark.slow
def test_relevance_figure_and_sanity_table(ci_run):
    _, out, _ = ci_run
    t = pd.read_csv(out / "tables" / "t_relevance_sanity.csv")
    assert set(t.model) == {"pre-trained", "random init"} and set(t.modality) == {"X-ray", "ECG"}
    rerun = t[t.test.str.startswith("Spearman rho, rerun")]
    assert len(rerun) == 2 and np.allclose(rerun.value, 1.0)
    gaps = t[t.test.str.endswith("gap")]
    assert len(gaps) == 8 and np.isfinite(gaps.value).all()
    md = (out / "REPORT.md").read_text()
    for name in ("f_relevance", "t_ablation", "t_compute"):
        assert f"(`{name}`)" in md, name
    assert "![f_relevance_xray](figures/f_relevance_xray.png)" in md


@pytest.mark.slow
def test_report_links_resolve_and_html_is_self_contained(ci_run):
    _, out, status = ci_run
    md = (out / "REPORT.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", md)
    assert links and all((out / ln).is_file() for ln in links), [ln for ln in links if not (out / ln).is_file()]
    assert md.count("Data: SYNTHETIC cohort (80 patients, seed 0)") >= len(ENTRIES)
    html = (out / "report.html").read_text()
    pngs = [p for r in status["results"] for p in r["outputs"]["figures"] if p.endswith(".png")]
    assert html.count("data:image/png;base64,") == len(pngs) > 0
    assert not re.search(r"<img[^>]+src=\"(?!data:)", html)  # no image fetched from elsewhere
    hrefs = re.findall(r"href=\"([^\"]+)\"", html)
    assert hrefs and all((out / h).is_file() for h in hrefs)


@pytest.mark.slow
def test_same_seed_gives_byte_identical_csv_tables(ci_run, tmp_path):
    """A second run (its own pre-training, same cohort and seed) writes the same CSV bytes."""
    _, out, _ = ci_run
    names = ["t_zeroshot", "t_hparams"]
    rc = main_paper(["--profile", "ci", "--out", str(tmp_path / "again"), "--data-root", str(out / "cohort"),
                     "--only", *names, "--seed", "0"])
    assert rc == 0
    for n in names:
        a, b = (out / "tables" / f"{n}.csv").read_bytes(), (tmp_path / "again" / "tables" / f"{n}.csv").read_bytes()
        if n == "t_hparams":  # the run folder's path differs by design; everything else must not
            a, b = a.replace(str(out).encode(), b"OUT"), b.replace(str(tmp_path / "again").encode(), b"OUT")
        assert a == b, n


def _write_nb(path, cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(cells[0], metadata={"tags": ["parameters"]})] + [nbformat.v4.new_code_cell(c) for c in cells[1:]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
def test_a_failing_notebook_is_reported_and_the_batch_continues(tmp_path, capsys):
    nbs, data = tmp_path / "nbs", tmp_path / "data"
    nbs.mkdir(), data.mkdir()
    params = 'data_root: str = ""\nout_dir: str = ""\nseed: int = 0\nprofile: str = "ci"'
    _write_nb(nbs / "bad.ipynb", [params, "raise RuntimeError('boom in the benchmark')"])
    _write_nb(nbs / "good.ipynb", [params, "from pathlib import Path\nfrom morebench.report import save_table\nimport pandas as pd\n"
                                           "save_table(pd.DataFrame({'a': [1.0], 'paper a': [float('nan')]}), out_dir, 'good')"])
    (nbs / "manifest.yaml").write_text("- {name: bad, artifact: Bad, notebook: bad.ipynb, outputs: [bad.csv]}\n"
                                       "- {name: good, artifact: Good, notebook: good.ipynb, outputs: [good.csv]}\n")
    out = tmp_path / "out"
    rc = main_paper(["--profile", "ci", "--out", str(out), "--data-root", str(data), "--notebooks", str(nbs)])
    printed = capsys.readouterr().out
    assert rc == 1
    res = {r["name"]: r for r in json.loads((out / "status.json").read_text())["results"]}
    assert res["bad"]["status"] == "failed: RuntimeError: boom in the benchmark", res["bad"]
    assert Path(res["bad"]["executed"]).is_file() and "boom in the benchmark" in Path(res["bad"]["executed"]).read_text()
    assert f"executed notebook: {res['bad']['executed']}" in printed
    assert res["good"]["status"] == "ok" and (out / "tables" / "good.csv").is_file()  # the batch went on
    assert "failed: RuntimeError: boom in the benchmark" in (out / "REPORT.md").read_text()


def test_paper_job_that_runs_no_notebook_fails(tmp_path, capsys):
    """An empty manifest (or a package without its notebooks) must not end in 'ok' with exit code 0."""
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "manifest.yaml").write_text("[]\n")
    rc = main_paper(["--out", str(tmp_path / "out"), "--data-root", str(tmp_path), "--notebooks", str(tmp_path / "nbs")])
    assert rc == 1
    assert "no benchmark notebook ran" in capsys.readouterr().err
    rc = main_paper(["--out", str(tmp_path / "out"), "--notebooks", str(tmp_path / "nowhere")])
    assert rc == 2 and "benchmark manifest not found" in capsys.readouterr().err


def test_bad_arguments_fail_before_any_work(tmp_path, capsys):
    """papermill only warns about an undeclared parameter; the runner refuses it (and a bad profile or data root)
    before building the cohort."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    shutil.copy(MORE_NB / "t_data_statistics.ipynb", nbs)
    (nbs / "manifest.yaml").write_text("- {name: t_data, artifact: T, notebook: t_data_statistics.ipynb, params: {profle: cpu}}\n")
    rc = main_paper(["--out", str(tmp_path / "out"), "--notebooks", str(nbs)])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown parameter(s) profle" in err and "data_root" in err, err
    assert main_paper(["--out", str(tmp_path / "out"), "--profile", "paper"]) == 2
    assert "reads real data: pass --data-root" in capsys.readouterr().err
    assert main_paper(["--out", str(tmp_path / "out"), "--data-root", str(tmp_path / "nowhere")]) == 2
    assert main_paper(["--out", str(tmp_path / "out"), "--profile", "fast"]) == 2
    assert not (tmp_path / "out").exists()
