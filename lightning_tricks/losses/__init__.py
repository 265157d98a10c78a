"""lightning_tricks.losses."""

__all__: list[str] = []
