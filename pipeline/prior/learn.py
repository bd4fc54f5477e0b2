"""Learn a ticket prior from a feature store: what IMP tickets of one architecture share.

For a target density, every ticket (method imp, no control) of the architecture
contributes its level whose overall density is nearest in log scale; the prior is
the average over those tickets of, per layer:

- `density`: the layer's density (the layer-density profile);
- `fan_in`, `fan_out`: the sorted per-unit degree shares (each sums to 1), i.e. the
  shape of the degree distributions, averaged quantile by quantile;
- `position`: for a layer reading the network input, the keep rate of each input
  feature (inputs are not exchangeable, so this is kept in place);
- `spread`: that layer's `input_locality_spread` feature;
- `kernel`: for a convolution, the keep rate of each kernel position (over all filters
  and input channels) relative to the layer's density;
- `decile_rel`, `positive_rel`: keep rates relative to density by |w_init| decile
  and for positive w_init (features `keep_rel_abs_init_d*`, `keep_rel_init_positive`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import PriorError
from pipeline.store import features_frame, levels_frame, read_masks, runs_frame

DECILE_COLUMNS = [f"keep_rel_abs_init_d{k}" for k in range(10)]


@dataclass
class LayerPrior:
    density: float
    fan_in: np.ndarray
    fan_out: np.ndarray
    position: np.ndarray | None
    spread: float | None
    kernel: np.ndarray | None
    decile_rel: np.ndarray | None
    positive_rel: float | None


@dataclass
class TicketPrior:
    model: str
    density: float  # mean overall density of the ticket levels used
    layers: dict[str, LayerPrior]
    sources: list[tuple[str, int]]  # (run_id, level) pairs learned from


def _unit_degrees(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kept weights per output unit and per input unit (channel for convolutions)."""
    matrix = mask.reshape(mask.shape[0], mask.shape[1], -1).sum(axis=2)
    return matrix.sum(axis=1).astype(float), matrix.sum(axis=0).astype(float)


def _shares(degrees: np.ndarray) -> np.ndarray:
    total = degrees.sum()
    ordered = np.sort(degrees)[::-1]
    return ordered / total if total else np.full_like(ordered, 1 / len(ordered))


def _tickets(store: Path, model: str, dataset: str | None):
    runs = runs_frame(store)
    tickets = runs[(runs.model == model) & (runs.method == "imp") & (runs.control == "none")]
    if dataset is not None and (tickets.dataset == dataset).any():
        tickets = tickets[tickets.dataset == dataset]
    if tickets.empty:
        raise PriorError(f"{store} holds no IMP tickets of {model}")
    levels = levels_frame(store)
    return levels[levels.run_id.isin(tickets.run_id) & (levels.level > 0)]


def _feature(frame, run_id: str, level: int, layer: str, columns):
    rows = frame[(frame.run_id == run_id) & (frame.level == level) & (frame.layer == layer)]
    present = [c for c in columns if c in rows.columns]
    if rows.empty or len(present) < len(columns):
        return None
    values = rows[present].to_numpy(dtype=float)[0]
    return None if np.isnan(values).any() else values


def nearest_levels(levels: pd.DataFrame, density: float) -> pd.DataFrame:
    """Per run, its level (a row of `levels_frame`) whose density is nearest in log scale."""
    gap = (np.log(levels.density) - math.log(density)).abs()
    return levels.assign(gap=gap).sort_values(["run_id", "gap", "level"]).groupby("run_id").head(1)


@lru_cache(maxsize=32)
def _learn(
    store: str, stamp: float, model: str, dataset: str | None, density: float
) -> TicketPrior:
    chosen = nearest_levels(_tickets(Path(store), model, dataset), density)
    features = features_frame(store)
    per_layer: dict[str, dict[str, list]] = {}
    for run_id, level in zip(chosen.run_id, chosen.level.astype(int)):
        for name, mask in read_masks(store, run_id, level).items():
            fan_in, fan_out = _unit_degrees(mask)
            slot = per_layer.setdefault(
                name,
                {
                    k: []
                    for k in (
                        "density",
                        "fan_in",
                        "fan_out",
                        "position",
                        "spread",
                        "kernel",
                        "deciles",
                        "positive",
                    )
                },
            )
            slot["density"].append(mask.mean())
            slot["fan_in"].append(_shares(fan_in))
            slot["fan_out"].append(_shares(fan_out))
            slot["position"].append(mask.reshape(mask.shape[0], -1).mean(axis=0))
            if mask.ndim > 2 and mask.any():
                kept = mask.reshape(*mask.shape[:2], -1).mean(axis=(0, 1))
                slot["kernel"].append(kept / mask.mean())
            for key, columns in (
                ("spread", ["input_locality_spread"]),
                ("deciles", DECILE_COLUMNS),
                ("positive", ["keep_rel_init_positive"]),
            ):
                value = _feature(features, run_id, level, name, columns)
                if value is not None:
                    slot[key].append(value)
    layers = {
        name: LayerPrior(
            density=float(np.mean(s["density"])),
            fan_in=np.mean(s["fan_in"], axis=0),
            fan_out=np.mean(s["fan_out"], axis=0),
            position=np.mean(s["position"], axis=0) if s["spread"] else None,
            spread=float(np.mean(s["spread"])) if s["spread"] else None,
            kernel=np.mean(s["kernel"], axis=0) if s["kernel"] else None,
            decile_rel=np.mean(s["deciles"], axis=0) if s["deciles"] else None,
            positive_rel=float(np.mean(s["positive"])) if s["positive"] else None,
        )
        for name, s in per_layer.items()
    }
    return TicketPrior(
        model,
        float(chosen.density.mean()),
        layers,
        list(zip(chosen.run_id, chosen.level.astype(int))),
    )


def learn_prior(
    store: str | Path, model: str, density: float, dataset: str | None = None
) -> TicketPrior:
    """The prior at `density` for `model` (preferring tickets trained on `dataset`)."""
    path = Path(store).resolve()
    if not path.is_file():
        raise PriorError(f"prune.prior_store={str(store)!r}: no such feature store")
    return _learn(str(path), path.stat().st_mtime, model, dataset, float(density))
