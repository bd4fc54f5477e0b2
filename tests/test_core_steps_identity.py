import dataclasses
import gzip
import shutil
from pathlib import Path

import pytest

from pipeline.config import (
    Config,
    DataConfig,
    LauncherConfig,
    ModelConfig,
    PruneConfig,
    TrainConfig,
    config_from_dict,
)
from pipeline.identity import identity_stamp, run_id, scientific_dict
from pipeline.paths import SweepPaths
from pipeline.steps import Schedule, Step


def test_step_forms_resolve_to_iterations():
    assert Step.parse("40ep").to_iterations(469) == 40 * 469
    assert Step.parse("500it").to_iterations(469) == 500
    assert Step.parse("2ep100it").to_iterations(10) == 120
    assert Step.parse("0it").to_iterations(10) == 0
    assert Step.parse(7).to_iterations(10) == 7
    assert Step.parse("12").to_iterations(10) == 12
    for bad in ("ep", "1.5ep", "40 epochs", "-3it", -3):
        with pytest.raises(ValueError):
            Step.parse(bad)


def test_step_equality_ignores_spelling():
    assert Step.parse("0ep") == Step.parse("0it") == Step.parse("0") == Step()
    assert Step.parse("0ep").is_zero and not Step.parse("1it").is_zero
    assert Step.parse("2ep0it") == Step.parse("2ep") and str(Step.parse("2ep0it")) == "2ep"
    # an epoch's length depends on the data: 1ep and 100it are different points
    assert Step.parse("1ep") != Step.parse("100it")
    assert len({Step.parse(s) for s in ("0", "0ep", "0it", "0ep0it")}) == 1


def test_schedule_resolves_every_point_once():
    train = TrainConfig(
        duration="3ep", warmup="5it", milestones=["2ep", "1ep10it"], eval_every="1ep"
    )
    schedule = Schedule.resolve(train, 20, rewind="1ep", checkpoint_every="7it")
    assert (schedule.total, schedule.rewind, schedule.warmup) == (60, 20, 5)
    assert schedule.milestones == (30, 40)  # sorted
    assert (schedule.eval_every, schedule.checkpoint_every) == (20, 7)


def test_default_config_has_empty_scientific_dict_and_pinned_id():
    assert scientific_dict(Config()) == {}
    # Pinned: changing these means every stored run would be renamed.
    assert run_id(Config()) == "44136fa355b3"
    lenet = Config(model=ModelConfig("lenet_300_100"), seed=3)
    assert run_id(lenet) == "5ffd176ed24b"
    imp = Config(
        prune=PruneConfig(fraction=0.3, control="reinit"),
        train=TrainConfig(optimizer="adam", lr=0.001, batch_size=100, duration="100ep"),
    )
    assert run_id(imp) == "880b2077e3d0"


def test_bookkeeping_does_not_change_the_id():
    base = Config(seed=1)
    moved = dataclasses.replace(
        base,
        out="/elsewhere",
        checkpoint_every="5ep",
        launcher=LauncherConfig(name="local", cohort_size=64, device="cpu"),
        prune=dataclasses.replace(base.prune, levels=20),
        data=dataclasses.replace(base.data, root="/data/somewhere"),
    )
    assert run_id(moved) == run_id(base)


def test_scientific_changes_change_the_id():
    base = Config()
    assert run_id(dataclasses.replace(base, seed=1)) != run_id(base)
    assert run_id(dataclasses.replace(base, prune=PruneConfig(rewind="500it"))) != run_id(base)
    # Setting a field to its default value is the same run as leaving it out.
    assert run_id(dataclasses.replace(base, prune=PruneConfig(rewind="0it"))) == run_id(base)


def test_step_spellings_hash_the_same():
    from pipeline.steps import canonical_step

    assert [canonical_step(s) for s in ("0", "0ep", "0it", "2ep0it", "500", " 3ep4it ")] == [
        "0it",
        "0it",
        "0it",
        "2ep",
        "500it",
        "3ep4it",
    ]
    base = Config()
    for spelling in ("0ep", "0", "0ep0it"):
        same = dataclasses.replace(base, prune=PruneConfig(rewind=spelling))
        assert run_id(same) == run_id(base)
    assert run_id(dataclasses.replace(base, train=TrainConfig(milestones=["80ep0it"]))) == run_id(
        dataclasses.replace(base, train=TrainConfig(milestones=["80ep"]))
    )


def test_a_method_option_enters_only_its_own_methods_ids():
    imp = Config(prune=PruneConfig(method="imp"))
    prior = Config(prune=PruneConfig(method="prior", prior_store="s.h5"))

    def with_components(cfg, components):
        return dataclasses.replace(
            cfg, prune=dataclasses.replace(cfg.prune, prior_components=components)
        )

    assert run_id(with_components(imp, ["profile"])) == run_id(imp)
    assert run_id(with_components(prior, ["profile"])) != run_id(prior)
    assert "prior_store" in scientific_dict(prior)["prune"]


def test_a_retired_key_at_its_old_default_loads_with_the_same_id_and_otherwise_is_named():
    """Manifests written before `prune.dst_start` became `prune.start` hold dst_start=erk
    for every run; a rigl run's id is the same as before (the default is omitted)."""
    rigl = Config(prune=PruneConfig(method="rigl"))
    raw = {"prune": {"method": "rigl", "dst_start": "erk"}, "progress": True}
    assert run_id(config_from_dict(raw)) == run_id(rigl)
    with pytest.raises(ValueError, match="prune.dst_start='uniform' .* now prune.start"):
        config_from_dict({"prune": {"method": "rigl", "dst_start": "uniform"}})


def test_a_manifest_whose_ids_no_longer_match_its_configs_is_refused(tmp_path, capsys):
    from pipeline.cli import main
    from pipeline.io import load_json, save_json

    assert (
        main(
            [
                "sweep",
                "sweep=none",
                "prune.levels=1",
                f"out={tmp_path}",
                "sweep.name=s",
                "--dry-run",
            ]
        )
        == 0
    )
    path = tmp_path / "sweeps" / "s" / "manifest.json"
    assert main(["status", str(path.parent)]) == 1  # checked once: the stamp is kept
    checked = SweepPaths(path.parent).identity_checked.read_text()
    assert len(checked) == 64 and checked != identity_stamp()
    raw = load_json(path)
    ((key, config),) = raw["runs"].items()
    config["train"]["lr"] = 0.5  # as if this version hashed the stored config differently
    save_json(path, raw)
    capsys.readouterr()
    assert main(["status", str(path.parent)]) == 2
    err = capsys.readouterr().err
    assert f"run {key} of its manifest hashes to" in err and "identity changed" in err
    # the kept stamp belongs to the manifest as it was: an edited manifest is checked again
    assert SweepPaths(path.parent).identity_checked.read_text() == checked


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is missing")
def test_the_data_read_is_part_of_the_run_id_and_its_path_is_not(tmp_path):
    """The published files keep the ids runs had before; the same files elsewhere keep
    them too; one changed label gives every run on that data a new id."""
    from pipeline.compose import expand

    sweep = ["sweep=none", "model=lenet_300_100", "data=fashion_mnist"]
    (standard,) = expand(sweep)
    assert standard.data.fingerprint is None
    assert run_id(standard) == run_id(
        dataclasses.replace(standard, data=DataConfig("fashion_mnist"))
    )
    copy = tmp_path / "copy"
    shutil.copytree(FASHION, copy)
    (same,) = expand([*sweep, f"data.root={copy}"])
    assert run_id(same) == run_id(standard)
    changed = tmp_path / "changed"
    shutil.copytree(FASHION, changed)
    labels = changed / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[8] = (raw[8] + 1) % 10  # the first test label, still in range
    labels.write_bytes(gzip.compress(bytes(raw)))
    (other,) = expand([*sweep, f"data.root={changed}"])
    assert other.data.fingerprint is not None and run_id(other) != run_id(standard)
    (moved,) = expand([*sweep, f"data.root={shutil.move(changed, tmp_path / 'moved')}"])
    assert run_id(moved) == run_id(other)
