"""Training a cohort of runs as one network."""
