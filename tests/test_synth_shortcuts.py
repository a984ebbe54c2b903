"""No single hand-crafted feature solves a label of the SYNTHETIC cohort: the machine-measured QRS duration, PR
interval and the cardiothoracic ratio overlap between positives and negatives (borderline cases, measurement error),
as in real data. Computed from the cohort state (no files written) exactly as the writer derives machine measurements
and statements, so the test is fast; `morebench.synth.audit.audit_cohort` runs the same audit on a written cohort.

Tolerance: the audit flags AUROC > 0.95; these tests ask for clearly below it, 0.93. On 2,000 patients the worst
feature is RBBB's QRS duration, 0.894 for seed 0 (seeds 0-3 of an earlier draw: 0.904-0.937); on 500 patients
(≈15-40 positives per ECG label) the sampling error is larger, so the test there asserts the mean over three seeds
(worst mean 0.888) below 0.93 and every single value below 0.95 (worst 0.918). The former generator (QRS >= 110 ms
only with a block, PR clamped at 201 ms, cart error 6 ms) gave 0.944 at 2,000 and a mean of 0.949 at 500: it fails."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from morebench.synth.audit import folded_auroc, shortcut_audit
from morebench.synth.cohort import sample_cohort
from morebench.synth.ecg import ecg_statements, machine_measurements


def _ecg_audit(cohort) -> pd.DataFrame:
    rows = []
    for r in cohort.ecg_studies.to_dict("records"):
        r = {k: (None if v is pd.NA or (isinstance(v, float) and v != v) else v) for k, v in r.items()}
        rows.append(dict(**machine_measurements(r), text=" ".join(ecg_statements(r))))
    m = pd.DataFrame(rows)
    miss = lambda v: v.where(v != 29999)  # noqa: E731
    qrs_on = miss(m.qrs_onset)
    qt = miss(m.t_end) - qrs_on
    f = pd.DataFrame({"qrs_ms": miss(m.qrs_end) - qrs_on, "pr_ms": qrs_on - miss(m.p_onset), "qt_ms": qt,
                      "rr_ms": m.rr_interval.astype(float)}).astype(float)
    has = lambda pat: m.text.str.contains(pat, regex=True)  # noqa: E731  (the audit's regular expressions)
    y = pd.DataFrame({"AF": has("Atrial fibrillation"), "RBBB": has("Right bundle branch block"),
                      "LBBB": has("Left bundle branch block"), "1AVB": has("A-V block")}).astype(float)
    a = shortcut_audit(f, y)
    cx = cohort.cxr_studies.drop_duplicates("study_id")
    ctr = folded_auroc(cx.ctr.to_numpy(), cx.cardiomegaly.to_numpy())
    return pd.concat([a[["label", "feature", "auroc", "n_pos"]],
                      pd.DataFrame([dict(label="Cardiomegaly", feature="ctr", auroc=ctr, n_pos=int(cx.cardiomegaly.sum()))])])


@pytest.mark.slow
def test_no_shortcut_at_2000_patients():
    a = _ecg_audit(sample_cohort(2000, seed=0).part("mimic"))
    assert (a.n_pos >= 50).all(), a
    assert a.auroc.max() < 0.93, a
    # the findings still show: each named interval separates its label far better than chance
    best = a.set_index("label").auroc
    assert best["RBBB"] > 0.8 and best["LBBB"] > 0.8 and best["1AVB"] > 0.7 and best["Cardiomegaly"] > 0.75, a


def test_no_shortcut_at_500_patients():
    a = pd.concat([_ecg_audit(sample_cohort(500, seed=s).part("mimic")).assign(seed=s) for s in (0, 1, 2)])
    mean = a.groupby("label").auroc.mean()
    assert mean.max() < 0.93, a
    assert (a.auroc < 0.95).all(), a


def test_audit_sees_a_planted_threshold():
    """The same computation flags the old generator's behaviour: QRS >= 120 ms iff bundle branch block."""
    c = sample_cohort(500, seed=0).part("mimic")
    e = c.ecg_studies.copy()
    bbb = e.conduction.isin(["rbbb", "lbbb"])
    e["qrs_ms"] = np.where(bbb, np.maximum(e.qrs_ms, 140), np.minimum(e.qrs_ms, 100))
    c.ecg_studies = e
    a = _ecg_audit(c).set_index("label").auroc
    assert a["RBBB"] > 0.95 or a["LBBB"] > 0.95, a
