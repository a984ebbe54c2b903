"""The zoo objectives that need more than features, trained by `train()` itself: STRUCTURE (the model-owned frozen
reference towers), ProtoECGNet (model-owned prototypes, the `ProtoPush` callback) and MLCD (the `MLCDRecluster`
callback, which also checkpoints the loss's negative-sampling generator). For each: a run of one epoch, resumed for a
second, equals an uninterrupted two-epoch run bit for bit (CPU), so every piece of state (weights, the callback's
state in the checkpoint) round-trips; and what the objective needs is really there."""
import pytest
import torch

from morebench.checkpoint import load_pretrained, load_state, resolve_checkpoint
from morebench.model import create_model
from morebench.synth.write import write_cohort
from morebench.train import recipe, train

pytestmark = pytest.mark.slow  # three short trainings per objective (~15 s of CPU each; longer on a shared machine)

SMALL = {"xray__depth": 1, "ecg__depth": 1}
ZOO = {
    "structure": {"loss_kwargs": {"base_kwargs": {"base": "clip"}}},  # the tiny preset's MoRE + the regulariser
    "protoecgnet": {"loss_kwargs": {"head": {"per_class": 1}}},
    "mlcd": {"loss_kwargs": {"head": {"num_centres": 4}, "recluster_every": 1}},  # ~25 training pairs; re-cluster each epoch
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("cohort")
    write_cohort(d, n_patients=30, seed=0, formats=("mimic-ecg", "mimic-cxr"), progress=False)
    return d


def _cfg(cohort, out, epochs, loss, **kw):
    return recipe("tiny", data_root=str(cohort), out=str(out), loss=loss, batch_size=4, epochs=epochs, max_steps=None,
                  progress=False, eval_at_start=False, num_workers=0, cache_dir=None, val_batches=1,
                  model_overrides={**SMALL, **ZOO[loss]}, **kw)


def _weights(run):
    return load_pretrained(resolve_checkpoint(run, "last")).state_dict()


@pytest.mark.parametrize("loss", list(ZOO))
def test_zoo_objective_trains_and_resumes_bit_for_bit(loss, cohort, tmp_path):
    first = train(_cfg(cohort, tmp_path / "run", 1, loss))
    st = load_state(resolve_checkpoint(tmp_path / "run", "last"))  # weights_only=True inside
    resumed = train(_cfg(cohort, tmp_path / "run", 2, loss, resume="auto"))
    straight = train(_cfg(cohort, tmp_path / "straight", 2, loss))
    assert first.epochs == 1 and resumed.epochs == straight.epochs == 2
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in straight.history]
    w_resumed, w_straight = _weights(tmp_path / "run"), _weights(tmp_path / "straight")
    assert w_resumed.keys() == w_straight.keys()
    assert all(torch.equal(w_resumed[k], w_straight[k]) for k in w_resumed), loss
    st2 = load_state(resolve_checkpoint(tmp_path / "run", "last"))
    if loss == "structure":  # no callback: the reference is the model's, the initial text tower, unchanged
        assert st["callbacks"] == [] and st2["callbacks"] == []
        torch.manual_seed(0)
        init = create_model("tiny", loss=loss, **SMALL, **ZOO[loss])
        ref = {k: v for k, v in w_resumed.items() if k.startswith("objective_head.frozen.text.")}
        assert ref and all(torch.equal(v, init.state_dict()[k]) for k, v in ref.items())
        assert any(not torch.equal(w_resumed[k], init.state_dict()[k]) for k in w_resumed if k.startswith("text."))
    elif loss == "protoecgnet":  # projected at the start and at epoch 1
        assert st["callbacks"] == [{"last_epoch": 0, "n_pushes": 1}]
        assert st2["callbacks"] == [{"last_epoch": 1, "n_pushes": 2}]
        assert int(w_resumed["objective_head.pushes"]) == 2
        assert w_resumed["objective_head.cooccurrence"].sum() > 0
    else:  # MLCD: clustered at the start and at epoch 1; the generator's state travels with the callback's
        assert (st["callbacks"][0]["last_epoch"], st["callbacks"][0]["n_clusterings"]) == (0, 1)
        assert (st2["callbacks"][0]["last_epoch"], st2["callbacks"][0]["n_clusterings"]) == (1, 2)
        assert isinstance(st2["callbacks"][0]["generator"], torch.Tensor)
        assert all("val_align" in h for h in resumed.history)  # MLCD validation loss, the alignment beside it
