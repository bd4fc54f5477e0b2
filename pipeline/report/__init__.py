"""`lth report STORE -o DIR`: plots and an accuracy table from a feature store.

`report.write_report` writes them; importing this package loads neither pandas nor
matplotlib, so `lth --help` (which reads `DEFAULT_FEATURES`) stays fast.
"""

# Features compared across methods unless --features names others (those absent from a
# store are skipped).
DEFAULT_FEATURES = (
    "path_share_of_kept",
    "sign_agreement_survivors",
    "input_locality_spread",
    "fan_in_gini",
)

__all__ = ["DEFAULT_FEATURES"]
