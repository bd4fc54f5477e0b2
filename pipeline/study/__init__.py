"""`lth study`: tickets, controls, pruning-at-init baselines and `prior`, compared."""
