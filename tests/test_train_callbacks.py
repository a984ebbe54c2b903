"""`train(cfg, callbacks=...)`: the per-epoch hook objectives such as MLCD need. Each callback may define
on_train_start(model, loader, cfg), on_epoch_start(epoch, model, loader, device), state_dict() and
load_state_dict(d); only the methods that exist are called; the loss's own `train_callbacks()` are added after the
given ones; their states are saved in the checkpoint (key "callbacks", in order) and restored on resume."""
import pytest
import torch
from torch.utils.data import DataLoader

from morebench.checkpoint import load_state, resolve_checkpoint
from morebench.synth.write import write_cohort
from morebench.train import recipe, train

SMALL = {"xray__depth": 1, "ecg__depth": 1}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("cohort")
    write_cohort(d, n_patients=30, seed=0, formats=("mimic-ecg", "mimic-cxr"), progress=False)
    return d


class Counter:
    """Counts epochs; its state is a tensor and an int (weights_only-safe)."""

    def __init__(self):
        self.starts, self.epochs, self.restored = 0, [], None

    def on_train_start(self, model, loader, cfg):
        assert isinstance(loader, DataLoader) and isinstance(model, torch.nn.Module) and cfg.batch_size == 4
        self.starts += 1

    def on_epoch_start(self, epoch, model, loader, device):
        assert isinstance(loader, DataLoader) and device == torch.device("cpu")
        self.epochs.append(epoch)

    def state_dict(self) -> dict:
        return {"n": len(self.epochs) + (len(self.restored) if self.restored else 0),
                "seen": torch.tensor((self.restored or []) + self.epochs)}

    def load_state_dict(self, d: dict) -> None:
        self.restored = d["seen"].tolist()
        assert d["n"] == len(self.restored)


class StartOnly:
    """Only one hook: the others are not called (no AttributeError), and it adds no state."""

    def __init__(self):
        self.calls = 0

    def on_train_start(self, model, loader, cfg):
        self.calls += 1


def _cfg(cohort, out, epochs, **kw):
    return recipe("tiny", data_root=str(cohort), out=str(out), batch_size=4, epochs=epochs, max_steps=None,
                  progress=False, eval_at_start=False, num_workers=0, cache_dir=None, model_overrides=SMALL, **kw)


def test_callbacks_are_called_saved_and_restored_on_resume(cohort, tmp_path, monkeypatch):
    import morebench.model as mm

    from_loss = Counter()
    real = mm.create_objective

    def with_callbacks(*a, **k):  # a loss that asks for a per-epoch callback, as MLCD does
        loss = real(*a, **k)
        loss.train_callbacks = lambda: [from_loss]
        return loss

    monkeypatch.setattr(mm, "create_objective", with_callbacks)
    given, start_only = Counter(), StartOnly()
    train(_cfg(cohort, tmp_path / "run", 1), callbacks=[given, start_only])
    assert given.starts == 1 and given.epochs == [0] and start_only.calls == 1
    assert from_loss.epochs == [0]  # the loss's callbacks come after the given ones and are called too
    st = load_state(resolve_checkpoint(tmp_path / "run", "last"))  # weights_only=True inside
    assert [d["n"] for d in st["callbacks"]] == [1, 1]  # given, then the loss's (StartOnly has no state)
    assert st["callbacks"][0]["seen"].tolist() == [0]

    given2, from_loss2 = Counter(), Counter()
    monkeypatch.setattr(mm, "create_objective", lambda *a, **k: setattr(l := real(*a, **k), "train_callbacks",
                                                                        lambda: [from_loss2]) or l)
    res = train(_cfg(cohort, tmp_path / "run", 2, resume="auto"), callbacks=[given2, StartOnly()])
    assert res.epochs == 2
    assert given2.restored == [0] and given2.epochs == [1]  # state restored before the next epoch starts
    assert from_loss2.restored == [0] and from_loss2.epochs == [1]
    st = load_state(resolve_checkpoint(tmp_path / "run", "last"))
    assert [d["seen"].tolist() for d in st["callbacks"]] == [[0, 1], [0, 1]]
