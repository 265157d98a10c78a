"""Sub-commands of the ``lightning-tricks`` console script besides LightningCLI's own.

Each module here exposes ``main(argv: list[str]) -> int`` and is registered in
:data:`lightning_tricks.cli.EXTRA_COMMANDS`.
"""
