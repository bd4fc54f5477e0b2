"""What a pruning method sees at level 1 of a run, built for tests from small data."""

import torch

from pipeline.config import PruneConfig, TrainConfig
from pipeline.data.tensors import TensorDataset
from pipeline.models import build_plain, prunable_names
from pipeline.prune.context import PruneContext
from pipeline.prune.ladder import Rung


def random_data(shape: tuple[int, ...], train: int, test: int = 4, seed: int = 0) -> TensorDataset:
    """Gaussian inputs of `shape` with 10 random classes."""
    gen = torch.Generator().manual_seed(seed)
    return TensorDataset(
        torch.randn(train, *shape, generator=gen),
        torch.randint(10, (train,), generator=gen),
        torch.randn(test, *shape, generator=gen),
        torch.randint(10, (test,), generator=gen),
        10,
    )


def level_one(
    model: str,
    data: TensorDataset,
    state: dict,
    density: float,
    output_density: float,
    *,
    seed: int = 0,
    generator_seed: int | None = None,
    config: PruneConfig | None = None,
    train: TrainConfig | None = None,
) -> PruneContext:
    """Level 1 of a run of `model` at these densities, training from `state`; the mask
    generator is seeded with `generator_seed` (default seed + 100)."""
    plain = build_plain(model, data.input_shape, data.num_classes)
    names = prunable_names(plain)
    shapes = {n: p.shape for n, p in plain.named_parameters() if n in names}
    return PruneContext(
        level=1,
        rung=Rung(1 - density, 1 - output_density, density, output_density),
        names=names,
        scope="global",
        previous_mask={n: torch.ones(s, dtype=torch.bool) for n, s in shapes.items()},
        trained=None,
        shapes=shapes,
        generator=torch.Generator().manual_seed(
            seed + 100 if generator_seed is None else generator_seed
        ),
        model=model,
        data=data,
        rewind_state=lambda: state,
        seed=seed,
        config=config or PruneConfig(),
        dataset="synthetic",
        train=train or TrainConfig(),
    )


def layer_prior(**kw):
    """A `LayerPrior` of a 4 x 6 layer at density 0.5 with flat degrees and nothing else;
    `kw` replaces fields."""
    import numpy as np

    from pipeline.prior.learn import LayerPrior

    base = dict(
        density=0.5,
        fan_in=np.full(4, 0.25),
        fan_out=np.full(6, 1 / 6),
        position=None,
        spread=None,
        kernel=None,
        decile_rel=None,
        positive_rel=None,
    )
    return LayerPrior(**{**base, **kw})
