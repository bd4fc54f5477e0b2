import dataclasses

import pytest

from pipeline.config import Config, LauncherConfig, ModelConfig, PruneConfig, TrainConfig
from pipeline.identity import run_id, scientific_dict
from pipeline.steps import parse_step


def test_parse_step_forms():
    assert parse_step("40ep", 469) == 40 * 469
    assert parse_step("500it", 469) == 500
    assert parse_step("2ep100it", 10) == 120
    assert parse_step("0it", 10) == 0
    assert parse_step(7, 10) == 7
    assert parse_step("12", 10) == 12
    for bad in ("ep", "1.5ep", "40 epochs", "-3it"):
        with pytest.raises(ValueError):
            parse_step(bad, 10)


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
    raw = load_json(path)
    ((key, config),) = raw["runs"].items()
    config["train"]["lr"] = 0.5  # as if this version hashed the stored config differently
    save_json(path, raw)
    capsys.readouterr()
    assert main(["status", str(path.parent)]) == 2
    err = capsys.readouterr().err
    assert f"run {key} of its manifest hashes to" in err and "identity changed" in err
