"""What every command shares: one console, errors printed without a traceback, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from forecast.errors import ForecastError, ImportRejected, InvalidInput

# Piped output gets a wide page rather than rich's 80 columns, so tables stay readable in logs.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(func: F) -> F:
    """Print the library's errors as one readable message and exit non-zero (2 = bad input)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ImportRejected as exc:
            from training.reports import print_import_report

            print_import_report(exc.report, err_console)
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except InvalidInput as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except ForecastError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Plain JSON on stdout, for scripts."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
