"""The engine's logging when a host embeds it: through the standard library's ``logging``.

structlog's own default prints to stdout; an engine embedded in someone else's process must not
write there unless asked, and a stream that fails must cost a log line, never a run. So, unless
the host (or the command line, :mod:`ops.logging`) has configured structlog itself, the engine's
events go to ``logging`` loggers named ``marketsession.*``: the host's handlers decide where they
go (with none, Python prints warnings and errors to stderr), and ``logging`` reports a failing
handler instead of raising into the engine.
"""

from __future__ import annotations

import structlog


def use_stdlib_logging_unless_configured() -> None:
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
