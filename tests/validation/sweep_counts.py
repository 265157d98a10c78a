"""Print the constructor sweep's counts: ``python -m tests.validation.sweep_counts``."""

from __future__ import annotations

from collections import Counter

from .registry import all_cases, outcome, registry


def count() -> dict[str, Counter[str]]:
    """Outcome counts (``tried``, ``clear``, ``unclear``, ``accepted``) per subpackage."""
    groups: dict[str, Counter[str]] = {}
    for case in all_cases():
        kind, _ = outcome(case)
        group = groups.setdefault(case.entry.name.split(".")[0], Counter())
        group["tried"] += 1
        group[kind] += 1
    return groups


def summary(groups: dict[str, Counter[str]]) -> str:
    total: Counter[str] = Counter()
    for c in groups.values():
        total.update(c)
    lines = [f"constructor sweep over {len(registry())} public constructors / functions:"]
    for name, c in (*groups.items(), ("all", total)):
        lines.append(
            f"  {name:13s} tried {c['tried']:4d}  rejected clearly {c['clear']:4d}  "
            f"unclear {c['unclear']:4d}  accepted {c['accepted']:4d}"
        )
    return "\n".join(lines)


def main() -> None:
    groups = count()
    print(summary(groups))
    for case in all_cases():
        kind, err = outcome(case)
        if kind != "clear":
            detail = f"{type(err).__name__}: {str(err)[:150]}" if err is not None else ""
            print(f"{kind:8s} {case.id}  {detail}")


if __name__ == "__main__":
    main()
