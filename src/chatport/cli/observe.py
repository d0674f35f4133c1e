"""The options of the commands that run for a while or print results: `--log-level`,
`--log-format`, `--metrics-port` and `--json`, added to a command by `observed`:

    @import_app.command("waha")
    @observed(json=True, metrics=True)
    def import_waha(...): ...

Each is applied before the command runs: logging configured (`logs.configure`), a Prometheus
endpoint served from this process (`Metrics.serve_on`; `observing(services)` hands its hooks
to the imports), the output switched to JSON (`output.use_json`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, TypeVar

import typer

from chatport import logs
from chatport.cli.output import use_json
from chatport.services import Services

Command = TypeVar("Command", bound=Callable[..., Any])

LogLevelOption = Annotated[
    logs.LogLevel | None,
    typer.Option(
        "--log-level",
        help="Log records shown on stderr [default: $CHATPORT_LOG_LEVEL, else info]",
        show_default=False,
    ),
]
LogFormatOption = Annotated[
    logs.LogFormat | None,
    typer.Option(
        "--log-format",
        help="Log lines as text or JSON objects [default: $CHATPORT_LOG_FORMAT, else text]",
        show_default=False,
    ),
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics at http://0.0.0.0:PORT/metrics while this runs",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout (notes on stderr)")
]

_OPTIONS = {
    "log_level": LogLevelOption,
    "log_format": LogFormatOption,
    "metrics_port": MetricsPortOption,
    "json_output": JsonOption,
}
_served: Any = None  # the Metrics this process serves (`--metrics-port`), once started


def observed(
    *, logs: bool = True, json: bool = False, metrics: bool = False, level: str = "info"
) -> Callable:
    """A decorator that gives a command `--log-level` and `--log-format` (`logs`), `--json`
    (`json`) and `--metrics-port` (`metrics`), and applies them before it runs; `level` is
    the log level when neither `--log-level` nor CHATPORT_LOG_LEVEL says one."""
    wanted = [
        *(["log_level", "log_format"] if logs else []),
        *(["metrics_port"] if metrics else []),
        *(["json_output"] if json else []),
    ]

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        added = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=False if name == "json_output" else None,
                annotation=_OPTIONS[name],
            )
            for name in wanted
        ]

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            chosen = {name: kwargs.pop(name, None) for name in wanted}
            if logs:
                start_logging(chosen["log_level"], chosen["log_format"], level)
            if chosen.get("metrics_port"):
                serve_metrics(chosen["metrics_port"])
            if chosen.get("json_output"):
                use_json()
            return command(*args, **kwargs)

        parameters = [*signature.parameters.values(), *added]
        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


def start_logging(
    level: str | None = None, format: str | None = None, default_level: str = "info"
) -> None:
    """Configure logging with these, or else with CHATPORT_LOG_LEVEL (else `default_level`)
    and CHATPORT_LOG_FORMAT."""
    if level is None or format is None:
        from chatport.settings import Settings

        settings = Settings()
        if level is None:
            chosen = "log_level" in settings.model_fields_set
            level = settings.log_level if chosen else default_level
        format = format or settings.log_format
    logs.configure(level, format)


def serve_metrics(port: int) -> None:
    """Serve this process's metrics on `port` (once)."""
    global _served
    if _served is None:
        from chatport.api.metrics import Metrics

        _served = Metrics()
        _served.serve_on(port)


def observing(services: Services) -> Services:
    """`services` whose imports feed the metrics this process serves (`--metrics-port`), if
    it serves any."""
    if _served is None:
        return services
    return replace(services, observer=_served.import_observer())
