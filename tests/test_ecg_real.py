"""Format fidelity of `morebench.data.ecg` on the real public ECG samples in ../shared/data (skipped when absent).

PTB-XL (400 records at 100 Hz, 100 at 500 Hz, WFDB .hea+.dat), PhysioNet/CinC 2021 (50 records, .hea+.mat),
PTB diagnostic s0010_re (15 leads, 1 kHz). The fast reader must equal wfdb bit for bit on every record, and the
fast baseline filter a per-lead scipy medfilt loop.
"""
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import wfdb

from morebench.data.ecg import (
    HAVE_NUMBA,
    LEADS,
    ECGPreprocessConfig,
    _fast_layout,
    baseline_kernels,
    check_wfdb_record,
    fast_medfilt,
    load_ecg,
    load_ecg_batch,
    preprocess_ecg,
    read_ecg,
    read_wfdb,
    read_wfdb_header,
    remove_baseline,
    resample_ecg,
)
from morebench.utils import DataError, shared_data_dir

ROOT = shared_data_dir(Path(__file__).parent)
pytestmark = pytest.mark.skipif(ROOT is None, reason="../shared/data (real public samples) not found")
BACKENDS = ["scipy", pytest.param("numba", marks=pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed"))]


def _records(folder: str, pattern: str = "*.hea") -> list[Path]:
    return sorted((ROOT / folder).rglob(pattern)) if ROOT else []


def _medfilt_loop(x: np.ndarray, k: int) -> np.ndarray:
    rows = x.reshape(-1, x.shape[-1])
    return np.stack([scipy.signal.medfilt(r, k) for r in rows]).reshape(x.shape)


def _check_against_wfdb(path: Path, fs: float, t: int) -> None:
    """Our record equals wfdb's p_signal reordered by name (NaN -> 0)."""
    rec = read_ecg(path)
    assert rec.signal.shape == (12, t) and rec.signal.dtype == np.float32
    assert rec.fs == fs and rec.path.endswith(".hea")
    raw = wfdb.rdrecord(str(path)[:-4])
    names = [n.lower() for n in raw.sig_name]
    ref = np.stack([raw.p_signal[:, names.index(lead.lower())] for lead in LEADS])
    np.testing.assert_array_equal(rec.signal, np.nan_to_num(ref).astype(np.float32))
    assert rec.n_nan == int(np.isnan(ref).sum())
    assert np.isfinite(rec.signal).all() and np.abs(rec.signal).max() < 50  # millivolts


def test_ptbxl_100hz_all_records():
    paths = _records("ptbxl/records100")
    assert len(paths) == 400
    for p in paths:
        _check_against_wfdb(p, 100.0, 1000)
    y = load_ecg(paths[0])
    assert y.shape == (12, 1000) and y.dtype == np.float32
    np.testing.assert_allclose(y.min(-1), -1, atol=1e-6)
    np.testing.assert_allclose(y.max(-1), 1, atol=1e-6)


def test_ptbxl_500hz_all_records_match_100hz_files():
    paths = _records("ptbxl/records500")
    assert len(paths) == 100
    for p in paths:
        _check_against_wfdb(p, 500.0, 5000)
    # 500 Hz resampled to 100 Hz is close to PTB-XL's own 100 Hz file of the same ECG (different filters, so loose)
    hr = read_ecg(paths[0])
    lr = read_ecg(ROOT / "ptbxl/records100/00000" / paths[0].name.replace("_hr", "_lr"))
    down = resample_ecg(hr.signal.astype(np.float64), 500, 100)
    assert down.shape == (12, 1000)
    assert np.corrcoef(down[1, 20:-20], lr.signal[1, 20:-20])[0, 1] > 0.95


def test_ptbxl_limb_leads_consistent():
    # Einthoven: III = II - I, within the 1 uV quantisation and PTB-XL's rounding (a few uV)
    for p in _records("ptbxl/records100")[:50]:
        x = read_ecg(p).signal
        assert np.abs(x[2] - (x[1] - x[0])).mean() < 0.01, p


def test_cinc2021_mat_records():
    paths = _records("cinc2021_sample/records")
    assert len(paths) == 50
    for p in paths:
        assert p.with_suffix(".mat").exists()
        _check_against_wfdb(p, 500.0, 5000)
        rec = read_ecg(p)
        assert any(c.startswith("Dx:") for c in rec.comments)
        assert read_ecg(p.with_suffix(".mat")).signal.shape == (12, 5000)  # the .mat path works too
        assert load_ecg(p).shape == (12, 1000)


def test_ptb_diagnostic_15_leads_1khz():
    p = ROOT / "ptb_diagnostic_sample/s0010_re.hea"
    rec = read_ecg(p)
    assert rec.file_leads == ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6", "vx", "vy", "vz"]
    assert rec.fs == 1000.0 and rec.signal.shape == (12, 38400)
    raw = wfdb.rdrecord(str(p)[:-4])
    np.testing.assert_array_equal(rec.signal, raw.p_signal[:, :12].T.astype(np.float32))
    assert "Reason for admission: Myocardial infarction" in rec.comments
    assert resample_ecg(rec.signal, 1000, 100).shape == (12, 3840)
    y = load_ecg(p)
    assert y.shape == (12, 1000) and np.isfinite(y).all()
    # the crop keeps the first 10 s: same as preprocessing the first 10 s alone
    first10 = resample_ecg(rec.signal.astype(np.float64), 1000, 100)[:, :1000]
    np.testing.assert_allclose(y, preprocess_ecg(first10, 100), atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("folder,fs", [("ptbxl/records100", 100), ("ptbxl/records500", 500), ("cinc2021_sample/records", 500)])
def test_fast_baseline_equals_scipy_medfilt(folder, fs, backend):
    paths = _records(folder)[:20]
    x = np.stack([read_ecg(p).signal.astype(np.float64) for p in paths])  # [20, 12, T], native rate
    k1, k2 = baseline_kernels(fs)
    np.testing.assert_array_equal(fast_medfilt(x, k1, backend), _medfilt_loop(x, k1))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(fast_medfilt(x32, k1, backend), _medfilt_loop(x32, k1))
    base = _medfilt_loop(_medfilt_loop(x, k1), k2)
    np.testing.assert_array_equal(remove_baseline(x, fs, backend), x - base)
    # and after resampling to 100 Hz (float values, not the files' quantised ones)
    if fs != 100:
        x100 = resample_ecg(x, fs, 100)
        ref = x100 - _medfilt_loop(_medfilt_loop(x100, 21), 61)
        np.testing.assert_array_equal(remove_baseline(x100, 100, backend), ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ptb_diagnostic_baseline_1khz(backend):
    x = read_ecg(ROOT / "ptb_diagnostic_sample/s0010_re.hea").signal[:, :10000].astype(np.float64)
    k1, k2 = baseline_kernels(1000)
    assert (k1, k2) == (201, 601)
    np.testing.assert_array_equal(remove_baseline(x, 1000, backend), x - _medfilt_loop(_medfilt_loop(x, k1), k2))


class _BaselineDataset:  # a tiny torch-style Dataset whose __getitem__ runs the (numba) baseline filter
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return remove_baseline(self.x[i], 100)


def test_baseline_in_forked_dataloader_workers():
    """The numba kernels (threads started in the parent first) work in 2 forked DataLoader workers and in threads."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    x = np.stack([read_ecg(p).signal.astype(np.float64) for p in _records("ptbxl/records100")[:8]])
    ref = x - _medfilt_loop(_medfilt_loop(x, 21), 61)
    np.testing.assert_array_equal(remove_baseline(x, 100), ref)  # the parent uses the kernels before forking
    ctx = multiprocessing.get_context("fork")
    dl = DataLoader(_BaselineDataset(x), batch_size=2, num_workers=2, multiprocessing_context=ctx, timeout=120)
    got = torch.cat(list(dl)).numpy()
    np.testing.assert_array_equal(got, ref)
    with ThreadPoolExecutor(4) as ex:  # concurrent callers are serialised, not a crash
        outs = list(ex.map(lambda i: remove_baseline(x[i], 100), range(8)))
    np.testing.assert_array_equal(np.stack(outs), ref)


def test_batch_loader_matches_single():
    paths = _records("ptbxl/records500")[:8]
    ys, kept = load_ecg_batch(paths)
    assert ys.shape == (8, 12, 1000) and kept == list(range(8))
    for p, y in zip(paths, ys):
        np.testing.assert_allclose(y, load_ecg(p), atol=1e-6)
    z, _ = load_ecg_batch(paths[:2], ECGPreprocessConfig(norm="zscore"))
    np.testing.assert_allclose(z.std(-1), 1, atol=1e-3)


# ---- the fast reader equals wfdb on every real record --------------------------------------------------------------
ALL_RECORDS = sorted(ROOT.rglob("*.hea")) if ROOT else []


def _same(a, b) -> bool:  # equal values and types, element by element
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_read_wfdb_is_rdsamp_bit_for_bit_on_every_real_record():
    """read_wfdb == wfdb.rdsamp (bytes of the float64 signal, dtype, every field with its type) on all 551 records."""
    assert len(ALL_RECORDS) == 551
    fast = 0
    for p in ALL_RECORDS:
        sig, fields = read_wfdb(p)
        ref, ref_fields = wfdb.rdsamp(str(p)[:-4])
        assert sig.dtype == ref.dtype == np.float64 and sig.shape == ref.shape, p
        assert sig.tobytes() == ref.tobytes(), p
        assert all(_same(fields[k], ref_fields[k]) for k in ref_fields), p
        fast += _fast_layout(read_wfdb_header(p)) is not None
    assert fast == len(ALL_RECORDS)  # all of them take the fast path (format 16), none falls back to wfdb


def test_read_wfdb_header_is_rdheader_on_every_real_record():
    keys = ["record_name", "n_sig", "fs", "sig_len", "counter_freq", "base_counter", "base_time", "base_date",
            "file_name", "fmt", "samps_per_frame", "skew", "byte_offset", "adc_gain", "baseline", "units", "adc_res",
            "adc_zero", "init_value", "checksum", "block_size", "sig_name", "comments"]
    for p in ALL_RECORDS:
        h, ref = read_wfdb_header(p), wfdb.rdheader(str(p)[:-4])
        bad = [k for k in keys if not _same(getattr(h, k), getattr(ref, k))]
        assert not bad, (p, bad)


def test_read_ecg_fast_equals_wfdb_path_on_every_real_record():
    for p in ALL_RECORDS:
        a, b = read_ecg(p), read_ecg(p, engine="wfdb")
        assert a.signal.dtype == np.float32 and a.signal.tobytes() == b.signal.tobytes(), p
        assert (a.fs, a.path, a.file_leads, a.comments, a.n_nan) == (b.fs, b.path, b.file_leads, b.comments, b.n_nan), p


@pytest.mark.parametrize("folder,fs", [("ptbxl/records100", 100), ("ptbxl/records500", 500),
                                       ("cinc2021_sample/records", 500)])
def test_checker_accepts_real_records_with_documented_rates(folder, fs):
    for p in _records(folder):
        h = check_wfdb_record(p, "header", expected_fs=(100, 500), duration_s=(10, 10))
        assert h.fs == fs and h.sig_len == 10 * fs
    with pytest.raises(DataError, match=r"sampling frequency \d+ Hz is not one the dataset documents"):
        check_wfdb_record(_records(folder)[0], expected_fs=250)
    p = ROOT / "ptb_diagnostic_sample/s0010_re.hea"  # 38.4 s at 1 kHz: outside a 10 s dataset's documented duration
    assert check_wfdb_record(p, "signal", expected_fs=1000).sig_len == 38400
    with pytest.raises(DataError, match="s0010_re.hea: duration 38.4 s"):
        check_wfdb_record(p, duration_s=(10, 10))
