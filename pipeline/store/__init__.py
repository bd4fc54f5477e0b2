"""The HDF5 feature store (schema v1): masks, accuracies and features of every run and level."""

from pipeline.errors import StoreError

from .reader import curves_frame, features_frame, levels_frame, read_masks, runs_frame, summary
from .records import CurvePoint, LevelPayload, LevelRecord, RunRecord
from .schema import SCHEMA_VERSION
from .writer import Added, store_keys, write_store

__all__ = [
    "SCHEMA_VERSION",
    "Added",
    "CurvePoint",
    "LevelPayload",
    "LevelRecord",
    "RunRecord",
    "StoreError",
    "curves_frame",
    "features_frame",
    "levels_frame",
    "read_masks",
    "runs_frame",
    "store_keys",
    "summary",
    "write_store",
]
