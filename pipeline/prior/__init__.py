"""Masks from a feature store: what the store's IMP tickets share (`learn`, `sample`,
`connect`, drawn by `draw`) and single stored tickets (`tickets`). The pruning methods
`prior` and `transfer` (in `pipeline/methods/`) use them."""
