"""How the live service answers many clients at once: ``/metrics`` latency at N concurrent
clients against a running ``serve`` on the replay provider.

``python -m ops.bench.service_load [--clients 50] [--requests 20]`` sets up a store with a day of
complete minutes, starts ``serve`` (a subprocess, the session streaming at 60x) and has the clients
scrape ``/metrics`` and read ``/status`` as fast as they can, each on its own connection; it prints
p50, p99 and the worst latency of each endpoint.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from domain.calendar.trading_calendar import TradingCalendar
from domain.session.windows import DayHours
from domain.store import open_store
from ops.calendars.seed import seed_group
from ops.soak import SOURCE_DAY, ServeProcess, complete_session_bars, soak_config

__all__ = ["measure"]


def measure(workdir: Path, *, clients: int, requests: int) -> dict[str, Any]:
    names = [f"LOAD{i}" for i in range(5)]
    url = f"sqlite:///{workdir / 'load.db'}"
    config = workdir / "load_session.json"
    config.write_text(json.dumps(soak_config(names)), encoding="utf-8")
    with open_store(url) as store:
        seed_group(
            store.calendar, "US_EQUITY", SOURCE_DAY.year, datetime.now(UTC).year + 1, datetime.now(UTC)
        )
        calendar = TradingCalendar(store.calendar, "US_EQUITY", "EQUITY")
        hours = DayHours.from_session(calendar.get_trading_session(SOURCE_DAY))
        store.bars.insert_missing(complete_session_bars(names, hours), source="demo", received_at=0)
    exe = str(Path(sys.executable).with_name("marketsession"))
    args = [
        exe, "--db", url, "serve", str(config), "--port", "0", "--once",
        "--replay-date", SOURCE_DAY.isoformat(), "--replay-start", "10:00", "--speed", "60",
    ]  # fmt: skip
    out: dict[str, Any] = {"clients": clients, "requests_per_client": requests}
    with ServeProcess(args, workdir / "serve.log") as service:
        port = service.wait_serving(30)
        for path in ("/metrics", "/status"):
            out[path] = _load(port, path, clients, requests)
        service.proc.terminate()
    return out


def _load(port: int, path: str, clients: int, requests: int) -> dict[str, float]:
    """``clients`` threads, each on its own connection, ``requests`` GETs of ``path`` each."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as http:
            start.wait()
            for _ in range(requests):
                began = time.perf_counter()
                http.get(path).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    description = __doc__.split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m ops.bench.service_load", description=description)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="marketsession-load-") as directory:
        print(json.dumps(measure(Path(directory), clients=args.clients, requests=args.requests), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
