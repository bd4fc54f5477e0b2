"""`lth report STORE -o DIR`: plots and an accuracy table from a feature store."""

from .report import DEFAULT_FEATURES, write_report

__all__ = ["DEFAULT_FEATURES", "write_report"]
