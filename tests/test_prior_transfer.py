"""`transfer`: a stored ticket's mask, trained from the run's own initialization."""

from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import TICKETS as TINY

from pipeline.cli import main
from pipeline.io import load_json, load_tensors
from pipeline.store import read_masks, runs_frame


@pytest.fixture
def store(ticket_store) -> Path:
    return ticket_store


def _runs(out: Path, name: str) -> dict:
    manifest = load_json(out / "sweeps" / name / "manifest.json")
    return {cfg["seed"]: out / "runs" / rid for rid, cfg in manifest["runs"].items()}


def test_transferring_a_ticket_to_its_own_seed_and_data_reproduces_it(store, tmp_path):
    tickets = runs_frame(store).set_index("seed").run_id
    args = [*TINY, "prune.method=transfer", f"prune.transfer_store={store}", f"out={tmp_path}"]
    assert main(["sweep", *args, "seed=0", "sweep.name=same"]) == 0
    assert main(["sweep", *args, "seed=0", "prune.transfer_seed=1", "sweep.name=other"]) == 0
    same, other = _runs(tmp_path, "same")[0], _runs(tmp_path, "other")[0]
    ticket_dir = store.parent / "runs" / tickets[0]
    for level in (1, 2):
        for run, source in ((same, tickets[0]), (other, tickets[1])):
            mask = load_tensors(run / f"level_{level}" / "mask.pt")
            stored = read_masks(store, source, level)
            assert all(np.array_equal(mask[n].numpy(), stored[n]) for n in stored)
        # same mask, same initialization, same data order: the ticket's own training
        mine = load_json(same / f"level_{level}" / "metrics.json")
        ticket = load_json(ticket_dir / f"level_{level}" / "metrics.json")
        assert mine["test_accuracy"] == ticket["test_accuracy"]


def test_transfer_without_a_matching_ticket_fails_with_the_reason(store, tmp_path, capsys):
    args = [*TINY, "prune.method=transfer", f"out={tmp_path}", "seed=7"]
    assert main(["sweep", *args, "prune.transfer_store=/no/store.h5"]) == 2
    assert "lth sweep: error: prune.transfer_store:" in capsys.readouterr().err
    assert main(["sweep", *args, f"prune.transfer_store={store}"]) == 2
    assert "holds 0 IMP tickets of mnist1d_mlp on mnist1d with seed 7" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_every_level_records_its_training_flops_from_its_mask(store):
    """The tickets of the fixture: MNIST-1D MLP 40-100-100-10, 2 epochs of 4000 examples."""
    ticket = next((store.parent / "runs").iterdir())
    dense = load_json(ticket / "level_0" / "metrics.json")
    # forward 2 * (40*100 + 100*100 + 100*10) = 30000 FLOPs, 3 forwards a step, 8000 examples
    assert dense["train_flops"] == 3 * 30000 * 8000
    assert dense["mask_flops"] == 0  # IMP's rounds are charged by the study, level by level
    for level in (1, 2):
        kept = sum(
            int(m.sum()) for m in load_tensors(ticket / f"level_{level}" / "mask.pt").values()
        )
        metrics = load_json(ticket / f"level_{level}" / "metrics.json")
        assert metrics["train_flops"] == 3 * 2 * kept * 8000
        assert metrics["train_flops"] < dense["train_flops"]


def test_an_aligned_transfer_permutes_the_tickets_mask_to_the_runs_units(store, tmp_path):
    import torch

    from pipeline.models import initial_state
    from pipeline.prior import align

    tickets = runs_frame(store).set_index("seed").run_id
    args = [*TINY, "prune.method=transfer", f"prune.transfer_store={store}", f"out={tmp_path}"]
    # the ticket's own seed: its initialization matches itself unit for unit
    sweep = ["sweep", *args, "seed=0", "prune.transfer_align=weights,activations"]
    assert main([*sweep, "sweep.name=own"]) == 0
    manifest = load_json(tmp_path / "sweeps" / "own" / "manifest.json")
    assert len(manifest["runs"]) == 2  # the option enters the run id
    for rid in manifest["runs"]:
        mask = load_tensors(tmp_path / "runs" / rid / "level_1" / "mask.pt")
        assert all(
            np.array_equal(mask[n].numpy(), m) for n, m in read_masks(store, tickets[0], 1).items()
        )
    # seed 1's ticket moved onto seed 0's initialization
    assert (
        main(
            [
                "sweep",
                *args,
                "seed=0",
                "prune.transfer_seed=1",
                "prune.transfer_align=weights",
                "sweep.name=moved",
            ]
        )
        == 0
    )
    run = _runs(tmp_path, "moved")[0]
    chain = align.unit_chain("mnist1d_mlp", (1, 40), 10)
    perms = align.match_weights(
        initial_state("mnist1d_mlp", (1, 40), 10, 1),
        initial_state("mnist1d_mlp", (1, 40), 10, 0),
        chain,
    )
    assert not all(torch.equal(p, torch.arange(len(p))) for p in perms)
    for level in (1, 2):
        stored = {
            n: torch.from_numpy(m.astype(bool))
            for n, m in read_masks(store, tickets[1], level).items()
        }
        mask = load_tensors(run / f"level_{level}" / "mask.pt")
        expected = align.permute_masks(stored, chain, perms)
        assert all(torch.equal(mask[n], expected[n]) for n in chain)
        assert all(int(mask[n].sum()) == int(stored[n].sum()) for n in chain)
        # the second layer's rows and columns both moved: its unit degrees are permuted
        assert torch.equal(mask["fc2.weight"].sum(1), stored["fc2.weight"].sum(1)[perms[1]])
        assert torch.equal(mask["fc2.weight"].sum(0), stored["fc2.weight"].sum(0)[perms[0]])


def test_alignment_refuses_unknown_values_and_residual_networks(store, tmp_path, capsys):
    from pipeline.config import Config
    from pipeline.errors import ConfigError
    from pipeline.methods import METHODS

    args = [*TINY, "prune.method=transfer", f"prune.transfer_store={store}", f"out={tmp_path}"]
    assert main(["sweep", *args, "prune.transfer_align=bogus"]) == 2
    assert "prune.transfer_align: unknown value 'bogus'; known: none, weights, activations" in (
        capsys.readouterr().err
    )
    cfg = Config()
    cfg.model.name, cfg.data.name = "resnet20", "cifar10"
    cfg.prune.method, cfg.prune.transfer_store = "transfer", str(store)
    cfg.prune.transfer_align = "weights"
    with pytest.raises(ConfigError, match="resnet20 cannot be aligned unit by unit"):
        METHODS["transfer"].check(cfg)
