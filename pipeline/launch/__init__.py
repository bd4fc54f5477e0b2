"""Manifests, cohorts and the launchers that run them."""
