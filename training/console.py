"""What every command shares: one console, errors printed without a traceback, JSON output.

With `--json`, stdout carries exactly one JSON document whatever happens: the command's result,
or on failure `{"ok": false, "error": ..., "errors": [{"field": ..., "problem": ...}]}` (a
rejected import adds its report). Readable text goes to stderr, and the exit code still says
that the command failed. `JsonErrorsGroup` does the same for mistakes in the arguments, which
click finds before any command runs.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from forecast.errors import ForecastError, ImportRejected, InvalidInput, UnknownName

# Piped output gets a wide page rather than rich's 80 columns, so tables stay readable in logs.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
F = TypeVar("F", bound=Callable[..., Any])
#: The library's errors that say the arguments were wrong (exit 2, as click's usage errors): a
#: dataset, model version or key id that is not there is not found to the API (404) but a
#: mistyped name here.
BAD_INPUT = (InvalidInput, UnknownName)


def handles_errors(func: F) -> F:
    """Print the library's errors as one readable message and exit non-zero (2 = bad input)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        json_mode = bool(kwargs.get("json_"))
        try:
            return func(*args, **kwargs)
        except ImportRejected as exc:
            from training.reports import import_json, print_import_report

            if json_mode:
                print_json(import_json(exc.report, ok=False, error=str(exc)))
            print_import_report(exc.report, err_console)
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        except ForecastError as exc:
            if json_mode:
                print_json(error_json(str(exc), kind=type(exc).__name__))
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2 if isinstance(exc, BAD_INPUT) else 1) from None
        except (typer.Exit, typer.Abort):  # a command's own exit (a RuntimeError to Python)
            raise
        except ValidationError as exc:
            if exc.title != "Settings":
                raise
            message = _bad_settings(exc)
            if json_mode:
                print_json(error_json(message, kind="InvalidSetting"))
            err_console.print(f"[bold red]error:[/] {escape(message)}")
            raise typer.Exit(2) from None
        except Exception as exc:  # a bug: still one JSON document, then the traceback on stderr
            if json_mode:
                print_json(error_json(f"unexpected error: {exc}", kind=type(exc).__name__))
            raise

    return wrapper  # type: ignore[return-value]


def _bad_settings(exc: ValidationError) -> str:
    """A `Settings` read from the environment that failed: each setting's variable, the value
    given and what was wrong, one line."""
    parts = []
    for error in exc.errors():
        name = "_".join(str(p) for p in error.get("loc", ())).upper()
        given = error.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        parts.append(f"setting FORECAST_{name}: {error.get('msg')}{shown}")
    return "; ".join(parts)


def print_notes(notes: Iterable[str]) -> None:
    """A command's notes, dimmed on stderr beside its tables, each as written: a note may hold
    "[...]" that is text, not console markup."""
    for note in notes:
        err_console.print(f"[dim]note: {escape(note)}[/]")


def stderr_progress() -> Callable[[str], None]:
    """A library `progress` callback that prints each step on stderr with the seconds since it
    was made ("[   12.3 s] fit 3 of 52: ..."), so a long command shows it is moving while its
    stdout (tables or JSON) stays as it is."""
    started = time.perf_counter()

    def tick(message: str) -> None:
        elapsed = time.perf_counter() - started
        err_console.print(f"[{elapsed:7.1f} s] {message}", markup=False, highlight=False)

    return tick


def print_json(data: Any) -> None:
    """Plain JSON on stdout, for scripts."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def error_json(message: str, *, field: str | None = None, kind: str = "error") -> dict[str, Any]:
    """The one document a failed command prints with `--json`."""
    return {
        "ok": False,
        "error": message,
        "error_type": kind,
        "errors": [{"field": field, "problem": message}],
    }


class JsonErrorsGroup(TyperGroup):
    """The `forecast` command group: with `--json` among the arguments, a usage mistake (an
    unknown option, a bad value, a missing argument) is also reported as one JSON document on
    stdout; click still prints it on stderr and exits 2."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: typer.Context | None = None,
        **extra: Any,
    ) -> typer.Context:
        wants_json = "--json" in args
        try:
            ctx = super().make_context(info_name, args, parent, **extra)
        except typer.TyperException as exc:  # typer's click errors: usage, bad value
            if wants_json:
                _print_usage_error(exc)
            raise
        ctx.meta["json_errors"] = wants_json
        return ctx

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except typer.TyperException as exc:  # typer's click errors: usage, bad value
            if ctx.meta.get("json_errors"):
                _print_usage_error(exc)
            raise


def _print_usage_error(exc: typer.TyperException) -> None:
    param = getattr(exc, "param", None)
    field = getattr(exc, "option_name", None)  # an unknown option, or one missing its value
    if param is not None:
        field = param.opts[0] if getattr(param, "opts", None) else param.name
    print_json(error_json(exc.format_message(), field=field, kind="UsageError"))
