"""Independent checks of the SYNTHETIC ECG files: read back with plain wfdb, not with the generator's code.

Written separately from `morebench.synth.ecg`: it only calls `write_cohort` to produce files, then checks what is
on disk against what any real MIMIC-IV-ECG / PTB-XL file obeys (Einthoven/Goldberger within the ADC step, layout,
lead order) and that the label columns agree with each other, with the free text and with the signals.
"""
import ast
import re

import numpy as np
import pandas as pd
import pytest
import wfdb
from scipy.signal import find_peaks

from morebench.synth.write import write_cohort

MIMIC_ORDER = ["I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6"]
PTBXL_ORDER = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    write_cohort(out, n_patients=40, seed=11, formats=("mimic-ecg", "ptbxl"), progress=False, n_jobs=1)
    return out


def _limb(sig, names):
    """The six limb leads by name (case-insensitive) from a [T, 12] array."""
    low = [n.lower() for n in names]
    return {k: sig[:, low.index(k.lower())] for k in ("I", "II", "III", "aVR", "aVL", "aVF")}


def _identity_errors(sig, names):
    L = _limb(sig, names)
    return {
        "III": np.abs(L["III"] - (L["II"] - L["I"])).max(),
        "aVR": np.abs(L["aVR"] + (L["I"] + L["II"]) / 2).max(),
        "aVL": np.abs(L["aVL"] - (L["I"] - L["II"] / 2)).max(),
        "aVF": np.abs(L["aVF"] - (L["II"] - L["I"] / 2)).max(),
    }


def test_mimic_layout_and_einthoven(cohort_dir):
    root = cohort_dir / "mimic-iv-ecg"
    rl = pd.read_csv(root / "record_list.csv")
    assert list(rl.columns) == ["subject_id", "study_id", "file_name", "ecg_time", "path"]
    assert "SYNTHETIC" in (root / "README.md").read_text()
    for _, r in rl.iterrows():
        s = str(r.subject_id)
        assert r.path == f"files/p{s[:4]}/p{s}/s{r.study_id}/{r.study_id}"
        sig, f = wfdb.rdsamp(str(root / r.path))
        assert f["sig_name"] == MIMIC_ORDER and f["fs"] == 500 and sig.shape == (5000, 12)
        hdr = wfdb.rdheader(str(root / r.path))
        step = 1.0 / hdr.adc_gain[0]
        assert step <= 0.005 + 1e-12  # at most 5 uV per ADC unit
        for lead, err in _identity_errors(sig, f["sig_name"]).items():
            assert err <= 1.5 * step + 1e-9, (r.path, lead, err)
        assert np.isfinite(sig).all() and 0.2 < np.ptp(sig[:, 1]) < 15  # lead II looks like an ECG in mV


def test_ptbxl_layout_and_einthoven(cohort_dir):
    root = cohort_dir / "ptbxl"
    db = pd.read_csv(root / "ptbxl_database.csv")
    for col in ("ecg_id", "patient_id", "age", "sex", "report", "scp_codes", "strat_fold", "filename_lr", "filename_hr"):
        assert col in db.columns
    for _, r in db.iterrows():
        assert r.filename_lr == f"records100/{r.ecg_id // 1000 * 1000:05d}/{r.ecg_id:05d}_lr"
        for name, fs in ((r.filename_lr, 100), (r.filename_hr, 500)):
            sig, f = wfdb.rdsamp(str(root / name))
            assert f["sig_name"] == PTBXL_ORDER and f["fs"] == fs and sig.shape == (10 * fs, 12)
            for lead, err in _identity_errors(sig, f["sig_name"]).items():
                assert err <= 1.5e-3 + 1e-9, (name, lead, err)  # 1 uV ADC step
    # one fold per patient, folds 9/10 are validation/test patients only
    assert db.groupby("patient_id").strat_fold.nunique().eq(1).all()
    assert db.strat_fold.between(1, 10).all()


def _superclasses(codes, stm):
    return {stm.loc[c, "diagnostic_class"] for c in codes if c in stm.index and isinstance(stm.loc[c, "diagnostic_class"], str)}


def test_scp_codes_agree_with_statements_text_and_state(cohort_dir):
    db = pd.read_csv(cohort_dir / "ptbxl" / "ptbxl_database.csv")
    stm = pd.read_csv(cohort_dir / "ptbxl" / "scp_statements.csv", index_col=0)
    mm = pd.read_csv(cohort_dir / "mimic-iv-ecg" / "machine_measurements.csv")
    truth = pd.read_csv(cohort_dir / "cohort" / "ecg_studies.csv")
    rep_cols = [c for c in mm.columns if re.fullmatch(r"report_\d+", c)]
    assert len(rep_cols) == 18
    mm["text"] = mm[rep_cols].apply(lambda row: " ".join(v for v in row if isinstance(v, str)), axis=1)
    # the same ECG in both layouts: same recording time
    m = db.merge(mm, left_on="recording_date", right_on="ecg_time", validate="one_to_one")
    m = m.merge(truth[["study_id", "rhythm", "conduction", "mi_territory", "lvh"]], on="study_id")
    assert len(m) == len(db) == len(mm)
    rules = {  # code -> (keyword in MIMIC statements, keyword in the PTB-XL report (German | English))
        "AFIB": ("Atrial fibrillation", "vorhofflimmern|atrial fibrillation"),
        "STACH": ("Sinus tachycardia", "sinustachykardie|sinus tachycardia"),
        "SBRAD": ("Sinus bradycardia", "sinusbradykardie|sinus bradycardia"),
        "CRBBB": ("Right bundle branch block", "rechtsschenkelblock|right bundle branch block"),
        "CLBBB": ("Left bundle branch block", "linksschenkelblock|left bundle branch block"),
        "1AVB": ("A-V block", "av-block|av block"),
        "LVH": ("Left ventricular hypertrophy", "hypertrophie|hypertrophy"),
    }
    for _, r in m.iterrows():
        codes = ast.literal_eval(r.scp_codes)
        assert codes and all(c in stm.index for c in codes)
        for code, (kw, de) in rules.items():
            assert (code in codes) == (kw in r.text), (code, codes, r.text)
            assert (code in codes) == bool(re.search(de, r.report)), (code, codes, r.report)
        mi = bool({"IMI", "ILMI", "AMI", "ASMI", "LMI"} & set(codes))
        assert mi == ("infarct" in r.text) == (r.mi_territory != "none")
        if "Normal ECG" in r.text:  # the cart's "Normal ECG" is PTB-XL's NORM in sinus rhythm, nothing else
            assert set(codes) == {"NORM", "SR"}, (codes, r.text)
        if "NORM" in codes:
            assert _superclasses(codes, stm) == {"NORM"}
        assert ("AFIB" in codes) == (r.rhythm == "af")
        assert ("CRBBB" in codes) == (r.conduction == "rbbb") and ("CLBBB" in codes) == (r.conduction == "lbbb")
        # machine intervals: bundle branch blocks have a wide QRS (>= 100 ms as the cart measures it; borderline
        # widths occur without a block too, so QRS alone does not give the label); AF has no P wave (29999)
        qrs = r.qrs_end - r.qrs_onset
        if r.conduction in ("rbbb", "lbbb"):
            assert qrs >= 100, (qrs, r.conduction)
        assert (r.p_onset == 29999) == (r.rhythm == "af")
    m["qrs"] = m.qrs_end - m.qrs_onset
    bbb = m.conduction.isin(["rbbb", "lbbb"])
    if bbb.any() and (~bbb).any():
        assert m[bbb].qrs.median() > 120 > m[~bbb].qrs.median()


def _rr_cv(sig, fs=500):
    x = sig - np.median(sig, axis=0)
    sm = np.apply_along_axis(lambda v: np.convolve(v, np.ones(6) / 6, "same"), 0, x)
    env = np.abs(np.diff(sm, axis=0)).sum(1)
    env = np.convolve(env, np.ones(10) / 10, "same")
    pk, _ = find_peaks(env, height=0.4 * np.percentile(env, 99.5), distance=int(0.27 * fs))
    rr = np.diff(pk)
    return rr.std() / rr.mean()


def test_signals_agree_with_rhythm_labels(cohort_dir):
    root = cohort_dir / "mimic-iv-ecg"
    rl = pd.read_csv(root / "record_list.csv")
    mm = pd.read_csv(root / "machine_measurements.csv")
    m = rl.merge(mm[["study_id", "report_0", "rr_interval"]], on="study_id")
    cv = {"af": [], "sinus": []}
    for _, r in m.iterrows():
        sig, _ = wfdb.rdsamp(str(root / r.path))
        key = "af" if r.report_0.startswith("Atrial fibrillation") else "sinus" if r.report_0 == "Sinus rhythm" else None
        if key:
            cv[key].append(_rr_cv(sig))
    assert cv["af"] and cv["sinus"], "cohort too small to hold both rhythms"
    assert np.median(cv["af"]) > 0.08 > np.median(cv["sinus"]), (np.median(cv["af"]), np.median(cv["sinus"]))
