"""How `forecast models` marks a version a user should not take at its figures' word.

A version trained with `--include-leaks` kept the columns written once the outcome is known: its
holdout figures beat the champion's by reading what a new lead does not have yet. `models list`
marks it beside its version, and `models promote` says so before its verdict (promoting it all
the same: the user asked for that version by name).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

#: Beside a version in `models list` whose run kept its leak columns.
LEAKS_KEPT = "leaks kept"


def version_cell(row: dict[str, Any]) -> str:
    """A `models list` row's version, with "(leaks kept)" after it where its run kept them."""
    return f"{row['version']} ({LEAKS_KEPT})" if row.get("leaks_kept") else str(row["version"])


def print_decision(decision: Any, out: Console) -> None:
    """A promotion's warnings first (in yellow, before the verdict), then the verdict and its
    reasons."""
    for warning in decision.warnings:
        out.print(f"[bold yellow]warning:[/] {escape(warning)}")
    color = "green" if decision.promote else "yellow"
    out.print(f"[{color}]{'promoted' if decision.promote else 'not promoted'}[/]")
    for reason in decision.reasons:
        out.print(f"  {reason}")
