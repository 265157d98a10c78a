"""lightning_tricks.schedulers."""

__all__: list[str] = []
