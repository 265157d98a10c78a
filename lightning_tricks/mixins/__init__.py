"""lightning_tricks.mixins."""

__all__: list[str] = []
