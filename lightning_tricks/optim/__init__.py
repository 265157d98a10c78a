"""lightning_tricks.optim."""

__all__: list[str] = []
