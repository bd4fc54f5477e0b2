"""Find, store and characterize sparse lottery-ticket subnetworks."""

__version__ = "0.1.0"
