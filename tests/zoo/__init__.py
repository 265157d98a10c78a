"""The module zoo: LightningModules written the ways the ecosystem writes them (DESIGN.md §4).

Each style lives in its own file; every trick is run on every module, checking behaviour
(losses, metrics, LR trajectories, averages), not only the absence of errors.
"""
