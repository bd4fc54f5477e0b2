"""Masks from a feature store: `prior` (built before training from what the store's
tickets share) and `transfer` (one stored ticket's mask)."""

from pipeline.prior import method, transfer  # noqa: F401  (register the pruning methods)
from pipeline.prior.learn import COMPONENTS, LayerPrior, TicketPrior, learn_prior

__all__ = ["COMPONENTS", "LayerPrior", "TicketPrior", "learn_prior"]
