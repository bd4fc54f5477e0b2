"""What `prior` can copy from the tickets (docs/PRIOR.md); all of them by default."""

COMPONENTS = ("profile", "degrees", "locality", "magnitude", "sign", "connect")
