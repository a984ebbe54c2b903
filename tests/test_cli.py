"""`morebench` command line: argument errors, --json output, the missing-root message, the subcommand stubs."""
import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import wfdb

from morebench import cli


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def tiny_ptbxl(tmp_path):
    """A 3-record PTB-XL-layout folder (synthetic random signals); record 3 is listed but absent."""
    root = tmp_path / "ptbxl"
    (root / "records100/00000").mkdir(parents=True)
    leads = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    for i in (1, 2):
        wfdb.wrsamp(f"{i:05d}_lr", fs=100, units=["mV"] * 12, sig_name=leads,
                    p_signal=np.random.default_rng(i).normal(0, .3, (1000, 12)), fmt=["16"] * 12,
                    adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(root / "records100/00000"))
    pd.DataFrame(dict(ecg_id=[1, 2, 3], report=["a", "", "c"], strat_fold=[1, 9, 10],
                      scp_codes=["{'NORM': 100.0, 'SR': 0.0}", "{'IMI': 0.0}", "{'NORM': 80.0}"],
                      filename_lr=[f"records100/00000/{i:05d}_lr" for i in (1, 2, 3)],
                      filename_hr=[f"records500/00000/{i:05d}_hr" for i in (1, 2, 3)])).to_csv(
        root / "ptbxl_database.csv", index=False)
    pd.DataFrame({"diagnostic": [1.0, 1.0, None], "form": [None, None, None], "rhythm": [None, None, 1.0],
                  "diagnostic_class": ["NORM", "MI", None], "diagnostic_subclass": ["NORM", "IMI", None]},
                 index=["NORM", "IMI", "SR"]).to_csv(root / "scp_statements.csv")
    return root


def test_json_parses(tiny_ptbxl):
    code, out, err = run(["data", "summary", "ptbxl", "--root", str(tiny_ptbxl), "--task", "superclass", "--json"])
    assert code == 0, err
    s = json.loads(out)
    assert set(s) >= {"dataset", "task", "records", "splits", "labels", "unreadable"}
    assert s["records"] == 2 and s["splits"] == {"train": 1, "val": 1, "test": 0}
    assert s["labels"]["NORM"] == {"train": 1, "val": 0, "test": 0, "total": 1}
    assert s["empty_reports"] == 1  # record 2's report is empty: counted, not unreadable
    assert s["unreadable"] == [{"path": str(tiny_ptbxl / "records100/00000/00003_lr.hea"),
                                "reason": "listed in ptbxl_database.csv but file not found"}]
    code, out, _ = run(["data", "summary", "ptbxl", "--root", str(tiny_ptbxl), "--task", "rhythm", "--json"])
    assert json.loads(out)["labels"] == {"SR": {"train": 1, "val": 0, "test": 0, "total": 1}}


def test_table_output(tiny_ptbxl):
    code, out, _ = run(["data", "summary", "ptbxl", "--root", str(tiny_ptbxl)])
    assert code == 0
    assert "records=2" in out and "NORM" in out
    assert "unreadable records: 1" in out and "00003_lr.hea: listed in ptbxl_database.csv but file not found" in out


def test_missing_root(tmp_path):
    code, out, err = run(["data", "summary", "ptbxl", "--root", str(tmp_path / "nope")])
    assert code == 2 and out == ""
    assert f"--root {tmp_path / 'nope'}: folder not found" in err


def test_root_without_tables(tmp_path):
    code, _, err = run(["data", "summary", "mimic-ecg", "--root", str(tmp_path)])
    assert code == 1
    assert "record_list.csv: MIMIC-IV-ECG table not found" in err


@pytest.mark.parametrize("argv, message", [
    (["data", "summary", "nope", "--root", "."], "invalid choice: 'nope'"),
    (["data", "summary", "ptbxl"], "the following arguments are required: --root"),
    (["data", "summary", "ptbxl", "--root", ".", "--check", "all"], "invalid choice: 'all'"),
    (["data"], "required"),
    ([], "required"),
])
def test_argument_errors(argv, message):
    code, _, err = run(argv)
    assert code == 2
    assert message in err


def test_unknown_task(tiny_ptbxl):
    code, _, err = run(["data", "summary", "ptbxl", "--root", str(tiny_ptbxl), "--task", "rythm"])
    assert code == 2 and "unknown PTB-XL task 'rythm'" in err


def test_strict_names_the_file(tiny_ptbxl):
    code, _, err = run(["data", "summary", "ptbxl", "--root", str(tiny_ptbxl), "--strict"])
    assert code == 1 and "00003_lr.hea: listed in ptbxl_database.csv but file not found" in err


def test_summaries_registry():
    assert {"ptbxl", "mimic-ecg", "cinc2021", "mimic-cxr"} <= set(cli.SUMMARIES)
    offered = {c for n in cli.SUMMARIES for c in getattr(cli.dataset_module(n), "CHECKS", ())}
    assert offered == set(cli.CHECKS)  # every loader check is a CLI choice
    for name in ("ptbxl", "mimic-ecg", "cinc2021"):
        assert callable(cli.get_summarizer(name))
    with pytest.raises(KeyError, match="unknown dataset 'x'"):
        cli.get_summarizer("x")


def test_subcommand_stub_missing_module(monkeypatch):
    monkeypatch.setitem(cli.SUBCOMMANDS, "synth", "morebench.no_such_module:main_synth")
    code, _, err = run(["synth", "--out", "x"])
    assert code == 2
    assert "`morebench synth` is not available: cannot import morebench.no_such_module:main_synth" in err


def test_subcommand_passes_argv(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "load_target", lambda spec: lambda argv: seen.append(argv) or 3)
    assert run(["paper", "--out", "o", "--seed", "1"])[0] == 3
    assert seen == [["--out", "o", "--seed", "1"]]


def test_console_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "morebench.cli", "data", "summary", "--help"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "--root" in r.stdout and "ptbxl" in r.stdout


def test_paper_help_lists_profiles_and_options():
    code, out, _ = run(["paper", "--help"])
    assert code == 0
    for opt in ("--profile", "{ci,smoke,paper}", "--data-root", "--out", "--only", "--device", "--jobs"):
        assert opt in out, opt


def test_paper_bad_profile_exits_2():
    code, _, err = run(["paper", "--profile", "fast", "--out", "o"])
    assert code == 2 and "invalid choice: 'fast'" in err
