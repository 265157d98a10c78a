"""lightning_tricks.transforms."""

__all__: list[str] = []
