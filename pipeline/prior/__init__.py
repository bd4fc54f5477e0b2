"""`prior`: sparse masks built before training from what a feature store's tickets share."""

from pipeline.prior import method  # noqa: F401  (registers the pruning method)
from pipeline.prior.learn import COMPONENTS, LayerPrior, TicketPrior, learn_prior

__all__ = ["COMPONENTS", "LayerPrior", "TicketPrior", "learn_prior"]
