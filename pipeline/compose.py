"""Hydra composition and sweep expansion, all at once, in one process.

`lth sweep` takes Hydra overrides. Sweep overrides (commas, range(), glob())
and a preset's `hydra.sweeper.params` are expanded into their cartesian product
here, so the whole sweep becomes one manifest before anything runs. Plain
overrides of a key take precedence over a preset's sweep of that key.
"""

from __future__ import annotations

import functools
import itertools
import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.errors import HydraException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.config import Config, register_schemas
from pipeline.data import fingerprint
from pipeline.errors import ConfigError
from pipeline.resources import CONF_DIR
from pipeline.validate import validate

USER_CONFIG_ENV = "LTH_CONFIG_DIR"


def config_dirs(user_dir: Path | None = None) -> list[Path]:
    """Where config groups are looked up: a user's own folder (`--config-dir`, else
    $LTH_CONFIG_DIR), then the packaged conf/."""
    chosen = user_dir or os.environ.get(USER_CONFIG_ENV)
    if not chosen:
        return [CONF_DIR]
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError("--config-dir", f"{path} is not a directory of config groups")
    return [path, CONF_DIR]


def _compose(overrides: list[str], hydra_config: bool = False):
    try:
        return compose("config", overrides=overrides, return_hydra_config=hydra_config)
    except MissingConfigException as error:
        first = str(error).splitlines()[0]
        group = first.split("'")[-2].split("/")[0] if first.count("'") >= 2 else "config"
        options = getattr(error, "options", None) or []
        known = f"; known: {', '.join(sorted(options))}" if options else ""
        raise ConfigError(group, f"{first}{known}") from None
    except (HydraException, OmegaConfBaseException) as error:
        cause = error
        while cause.__cause__ is not None and not getattr(cause, "full_key", None):
            cause = cause.__cause__
        key = getattr(cause, "full_key", None) or "overrides"
        raise ConfigError(str(key), str(cause).splitlines()[0]) from None


def _to_config(node) -> Config:
    try:
        cfg = OmegaConf.to_object(node)
    except OmegaConfBaseException as error:
        raise ConfigError(
            str(getattr(error, "full_key", "config")), str(error).splitlines()[0]
        ) from None
    validate(cfg)
    if cfg.data.root is not None:  # jobs start elsewhere: never the caller's relative path
        cfg.data.root = str(Path(cfg.data.root).expanduser().resolve())
    cfg.data.fingerprint = _fingerprint(cfg.data.name, cfg.data.root)
    return cfg


@functools.cache
def _fingerprint(name: str, root: str | None) -> str | None:
    """The data's identity (pipeline.data.fingerprint), once per (dataset, root) a sweep."""
    return fingerprint(name, root)


def expand(overrides: list[str], user_dir: Path | None = None) -> list[Config]:
    """Every config of the sweep that `overrides` describe, validated. Config groups are
    looked up in `config_dirs(user_dir)`."""
    register_schemas()
    dirs = config_dirs(user_dir)
    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(overrides)
    except HydraException as error:
        raise ConfigError("overrides", str(error).splitlines()[0]) from None
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    fixed += [f"hydra.searchpath=[{','.join(f'file://{d}' for d in dirs[:-1])}]"]
    fixed_keys = {o.get_key_element() for o in parsed if not o.is_sweep_override()}
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        base = _compose(fixed, hydra_config=True)
        sweeps = {
            key: parser.parse_override(f"{key}={value}")
            for key, value in (base.hydra.sweeper.params or {}).items()
            if key not in fixed_keys
        }
        sweeps.update({o.get_key_element(): o for o in parsed if o.is_sweep_override()})
        groups = {k: o for k, o in sweeps.items() if _needs_compose(k, o, dirs)}
        values = {k: o for k, o in sweeps.items() if k not in groups}
        group_axes = [[f"{k}={v}" for v in _choices(k, o, dirs)] for k, o in groups.items()]
        value_axes = [
            [(k, parser.parse_override(f"{k}={v}").value()) for v in _choices(k, o, dirs)]
            for k, o in values.items()
        ]
        configs = []
        for combo in itertools.product(*group_axes):
            node = _compose(fixed + list(combo))
            for assignment in itertools.product(*value_axes):
                configs.append(_to_config(_assign(node, assignment)))
        if not configs:
            raise ConfigError("overrides", "the sweep is empty (a range or glob matched nothing)")
        return configs


def _group_options(key: str, dirs: list[Path]) -> list[str]:
    return sorted({p.stem for d in dirs for p in (d / key).glob("*.yaml")})


def _choices(key: str, override, dirs: list[Path]) -> list[str]:
    """The values a sweep override takes; `glob(...)` is matched against the group's
    options (Hydra can list those only inside its own launcher)."""
    value = override.value()
    if isinstance(value, Glob):
        return value.filter(_group_options(key, dirs))
    return list(override.sweep_string_iterator())


def _needs_compose(key: str, override, dirs: list[Path]) -> bool:
    """Config-group choices (model=..., data=...) and +/~ edits go through Hydra; plain
    value sweeps are assigned to one composed config, which is much faster."""
    return (
        any((d / key).is_dir() for d in dirs)
        or override.is_add()
        or override.is_delete()
        or override.is_force_add()
    )


def _assign(node, assignment):
    """`node` with every value-sweep key set, in place: each assignment of a product sets
    all of the same keys, so nothing of the previous one survives and no copy is needed."""
    for key, value in assignment:
        try:
            OmegaConf.update(node, key, value, merge=False)
        except OmegaConfBaseException as error:
            raise ConfigError(key, str(error).splitlines()[0]) from None
    return node
