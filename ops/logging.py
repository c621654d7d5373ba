"""structlog configuration for the command line: JSON when not a TTY, console otherwise.

Logs go to whatever ``sys.stderr`` is when a line is written (so stdout stays machine-readable,
and a command run in-process logs to its caller's stderr), and a stream that fails — closed, a
broken pipe — loses the line, never the run.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import TextIO

import structlog


class _Stderr:
    """``sys.stderr`` at the time of each write; errors writing to it are swallowed."""

    def write(self, text: str) -> int:
        try:
            return sys.stderr.write(text)
        except (OSError, ValueError):  # closed, or a broken pipe: the line is lost, the run goes on
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()


_STDERR = _Stderr()
_handler = logging.StreamHandler(_STDERR)
_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
_handler.handleError = lambda record: None  # type: ignore[method-assign]  # a lost line, not a traceback


def configure_logging(level: str = "WARNING", fmt: str = "auto") -> None:
    """Configure structlog and stdlib logging for a command (each call replaces the last).

    ``fmt`` is ``json``, ``console`` or ``auto`` (console on a TTY, JSON otherwise).
    """
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.WARNING)
    use_json = fmt == "json" or (fmt == "auto" and not _isatty(sys.stderr))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),  # type: ignore[arg-type]  # write/flush is all it uses
        cache_logger_on_first_use=False,
    )
    # the engine's supervisor reports actor failures itself; pykka's own record of an actor
    # failure is a traceback, which a command never prints
    logging.getLogger("pykka").setLevel(logging.CRITICAL)
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    _handler.setLevel(max(numeric, logging.WARNING))
    root.setLevel(_handler.level)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False
