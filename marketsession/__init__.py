"""marketsession: supervised, actor-based market-data sessions over a trading calendar.

The embedding API — everything a host application needs, importable from here::

    import marketsession as ms

    config = ms.SessionConfig.from_file("session_configs/example_session.json")
    with ms.MarketSessionSystem(config, "sqlite:///var/demo.db", speed=0) as engine:
        engine.subscribe(print, events=[ms.SessionEnded])
        report = engine.run(timeout=300)

The engine (:class:`MarketSessionSystem`), its config (:class:`SessionConfig`), the events it
publishes, the report it returns, the provider protocol a live session runs on
(:class:`MarketDataProvider`, :class:`StreamSink`) and the keyless replay provider
(:class:`ReplayProvider`, :func:`replay_clock`, :func:`replay_from_store`),
:class:`ManualTime` for a host's tests of a paced replay, and :func:`run_sharded` (a backtest
in shards on local processes, Dask or Ray, merged into one :class:`ShardedRun`).
``python -m marketsession`` is the command line.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from actors.subscribers import Subscription
from actors.system import MarketSessionSystem
from actors.timer import ManualTime
from domain.bars import Bar
from domain.config import SessionConfig
from domain.errors import (
    ConfigError,
    EngineTimeout,
    MarketSessionError,
    ProviderError,
    ShardError,
    StoreError,
    StoreUnavailable,
)
from domain.messages.events import (
    ActorRestarted,
    BarsAppended,
    ComponentStateChanged,
    DerivedBarsBuilt,
    Event,
    GapAbandoned,
    GapDetected,
    GapFilled,
    HistoricalLoaded,
    LifecycleChanged,
    ProviderConnection,
    ProviderStalled,
    QualityUpdated,
    QuotesAppended,
    RunCompleted,
    SessionEnded,
    SessionStarted,
    WarningRaised,
)
from domain.providers import ConnectionState, MarketDataProvider, ScaledClock, StreamSink
from domain.quality.gaps import Gap
from domain.report import DaySummary, RunReport
from domain.store import Store, open_store
from ops.providers.replay import ReplayFaults, ReplayProvider, replay_clock, replay_from_store
from ops.shards import ShardedRun, run_sharded

try:
    __version__ = version("marketsession")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ActorRestarted",
    "Bar",
    "BarsAppended",
    "ComponentStateChanged",
    "ConfigError",
    "ConnectionState",
    "DaySummary",
    "DerivedBarsBuilt",
    "EngineTimeout",
    "Event",
    "Gap",
    "GapAbandoned",
    "GapDetected",
    "GapFilled",
    "HistoricalLoaded",
    "LifecycleChanged",
    "ManualTime",
    "MarketDataProvider",
    "MarketSessionError",
    "MarketSessionSystem",
    "ProviderConnection",
    "ProviderError",
    "ProviderStalled",
    "QualityUpdated",
    "QuotesAppended",
    "ReplayFaults",
    "ReplayProvider",
    "RunCompleted",
    "RunReport",
    "ScaledClock",
    "SessionConfig",
    "SessionEnded",
    "SessionStarted",
    "ShardError",
    "ShardedRun",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StreamSink",
    "Subscription",
    "WarningRaised",
    "__version__",
    "open_store",
    "replay_clock",
    "replay_from_store",
    "run_sharded",
]
