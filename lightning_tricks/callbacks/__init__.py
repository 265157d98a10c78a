"""Thin Lightning callbacks that decide *when* and *on which tensors* to apply a trick."""

__all__: list[str] = []
