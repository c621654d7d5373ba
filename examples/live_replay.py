"""Embed a live session on the keyless replay provider: the demo store's latest stored day,
replayed as today's feed from 15:55 exchange time, 60 times faster than the wall clock."""

from datetime import time

import marketsession as ms

config = ms.SessionConfig.from_file("session_configs/live_session_example.json")
with ms.open_store("sqlite:///var/demo.db") as store:
    provider = ms.replay_from_store(store, config, start=time(15, 55), speed=60)
    with ms.MarketSessionSystem(config, store, provider=provider) as engine:
        engine.subscribe(lambda event: print(event.now_ts, len(event.bars), "bars"), events=[ms.BarsAppended])
        report = engine.run(timeout=300)  # today's session, up to its close
print(report.status, report.bars_streamed, "bars streamed")
