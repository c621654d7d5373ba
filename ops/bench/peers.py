"""Peer measurements (optional extra ``bench``): backtrader and nautilus_trader replaying the
same 1m bars as the engine, each with a consumer that does nothing.

Both peers are optional: :func:`available` says which import, and the suite skips the others.
The bars are read from the workload's SQLite file with :func:`load_bars`, outside any timing;
each replay function builds its peer's objects from those rows, then times only the peer's run
call and returns ``(seconds, bars processed)``. An exception raised by a peer propagates.
"""

from __future__ import annotations

import importlib
import sqlite3
import time
from collections.abc import Sequence
from contextlib import closing
from typing import Any

__all__ = ["available", "backtrader_replay", "load_bars", "nautilus_replay"]

PEERS = ("backtrader", "nautilus_trader")


def available() -> dict[str, bool]:
    """Which peers import, by package name (a peer installed but failing to import is ``False``)."""
    found = {}
    for name in PEERS:
        try:
            importlib.import_module(name)
            found[name] = True
        except Exception:
            found[name] = False
    return found


def load_bars(db_path: str, symbols: list[str], start_ts: int, end_ts: int) -> list[tuple[Any, ...]]:
    """The 1m bars of ``symbols`` with ``start_ts <= ts < end_ts`` straight from the SQLite store,
    as ``(symbol, ts, open, high, low, close, volume)`` ordered by ``ts`` then ``symbol``."""
    marks = ",".join("?" * len(symbols))
    sql = (
        "SELECT symbol, ts, open, high, low, close, volume FROM bars "
        f"WHERE interval = '1m' AND symbol IN ({marks}) AND ts >= ? AND ts < ? ORDER BY ts, symbol"
    )
    with closing(sqlite3.connect(db_path)) as connection:
        return connection.execute(sql, (*symbols, start_ts, end_ts)).fetchall()


def _by_symbol(rows: Sequence[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows per symbol, in symbol order, each list keeping the rows' time order."""
    groups: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row)
    return dict(sorted(groups.items()))


# --- backtrader ---------------------------------------------------------------------------


def backtrader_replay(rows: Sequence[tuple[Any, ...]]) -> tuple[float, int]:
    """A backtrader ``Cerebro`` run over ``rows``: one ``PandasData`` feed per symbol, a strategy
    whose ``next()`` does nothing, ``stdstats=False`` and no analyzers, default ``preload=True``
    and ``runonce=True`` (the fastest settings for this).

    Timed: ``cerebro.run()`` only, which includes backtrader's preload of every feed (copying the
    DataFrames into its line buffers) and the replay itself. Not timed: building the pandas
    DataFrames and the Cerebro. Bars: the bars every feed delivered (``len(data)`` after the
    run), which must equal ``len(rows)``.
    """
    import backtrader as bt
    import pandas as pd

    class _Nothing(bt.Strategy):  # type: ignore[misc]  # backtrader ships no types
        def next(self) -> None:
            pass

    cerebro = bt.Cerebro(stdstats=False, preload=True, runonce=True)
    cerebro.addstrategy(_Nothing)
    for symbol, group in _by_symbol(rows).items():
        frame = pd.DataFrame(
            [row[2:] for row in group],
            columns=["open", "high", "low", "close", "volume"],
            index=pd.to_datetime([row[1] for row in group], unit="s"),  # naive UTC
        )
        frame["openinterest"] = 0.0
        feed = bt.feeds.PandasData(
            dataname=frame, timeframe=bt.TimeFrame.Minutes, compression=1, openinterest="openinterest"
        )
        cerebro.adddata(feed, name=symbol)

    started = time.perf_counter()
    strategies = cerebro.run()
    elapsed = time.perf_counter() - started
    bars = sum(len(data) for data in strategies[0].datas)
    return elapsed, bars


# --- nautilus_trader ----------------------------------------------------------------------


def nautilus_replay(rows: Sequence[tuple[Any, ...]], bar_execution: bool) -> tuple[float, int]:
    """A nautilus_trader ``BacktestEngine`` (low-level API) over ``rows``: one simulated cash venue
    (``XNAS``), one ``Equity`` per symbol (price precision 2, size precision 0), the bars as
    ``<SYMBOL>.XNAS-1-MINUTE-LAST-EXTERNAL`` ``Bar`` objects stamped at the bar's close, and a
    strategy that subscribes to every bar type and does nothing in ``on_bar`` but count.

    ``bar_execution=False`` passes ``bar_execution=False`` to ``add_venue``, so bars do not drive
    the venue's matching engines (nautilus' "bar execution off").

    Timed: ``engine.run()`` only. Not timed: building the engine, the instruments and the ``Bar``
    objects, and ``add_data`` (which validates and sorts them). Logging is at ERROR and the
    post-run analysis is off. Bars: the strategy's ``on_bar`` calls, which must equal ``len(rows)``.
    """
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.common.config import LoggingConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import Bar, BarSpecification, BarType
    from nautilus_trader.model.enums import AccountType, AggregationSource, BarAggregation, OmsType, PriceType
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import Equity
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.trading.strategy import Strategy

    class _Nothing(Strategy):  # type: ignore[misc]  # nautilus_trader is compiled, untyped
        def __init__(self, bar_types: list[Any]) -> None:
            super().__init__()
            self.bar_types = bar_types
            self.bars = 0

        def on_start(self) -> None:
            for bar_type in self.bar_types:
                self.subscribe_bars(bar_type)

        def on_bar(self, bar: Any) -> None:
            self.bars += 1

    engine = BacktestEngine(
        config=BacktestEngineConfig(
            trader_id="PEERS-001",
            logging=LoggingConfig(log_level="ERROR"),
            run_analysis=False,
        )
    )
    try:
        venue = Venue("XNAS")
        engine.add_venue(
            venue=venue,
            oms_type=OmsType.NETTING,
            account_type=AccountType.CASH,
            base_currency=USD,
            starting_balances=[Money(1_000_000, USD)],
            bar_execution=bar_execution,
        )
        minute = BarSpecification(1, BarAggregation.MINUTE, PriceType.LAST)
        bar_types, bars = [], []
        for symbol, group in _by_symbol(rows).items():
            instrument = Equity(
                instrument_id=InstrumentId(Symbol(symbol), venue),
                raw_symbol=Symbol(symbol),
                currency=USD,
                price_precision=2,
                price_increment=Price.from_str("0.01"),
                lot_size=Quantity.from_int(1),
                ts_event=0,
                ts_init=0,
            )
            engine.add_instrument(instrument)
            bar_type = BarType(instrument.id, minute, AggregationSource.EXTERNAL)
            bar_types.append(bar_type)
            for _symbol, ts, *ohlc, volume in group:
                stamp = (ts + 60) * 1_000_000_000  # the bar's close, in nanoseconds
                prices = (Price(price, 2) for price in ohlc)
                bars.append(Bar(bar_type, *prices, Quantity(volume, 0), stamp, stamp))
        engine.add_data(bars)  # validated and sorted by ts_init once, for all instruments
        strategy = _Nothing(bar_types)
        engine.add_strategy(strategy)

        started = time.perf_counter()
        engine.run()
        elapsed = time.perf_counter() - started
        return elapsed, strategy.bars
    finally:
        engine.dispose()
