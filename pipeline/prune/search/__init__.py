"""Masks found by training: GEM-MINER's score training at the rewind weights and the
early-bird ticket's early dense training. Each trains a throwaway plain network with its
own loop (not the cohort trainer) and reports the FLOPs it spent; see docs/PRUNING.md."""
