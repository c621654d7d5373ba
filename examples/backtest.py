"""Embed a backtest: the example config on the demo store (`make demo` writes var/demo.db)."""

import pykka

import marketsession as ms


class Strategy(pykka.ThreadingActor):
    """A pykka actor of the host's: told every step's bars; a gating replay waits for it."""

    def __init__(self) -> None:
        super().__init__()
        self.bars = 0

    def on_receive(self, message: object) -> int:
        if isinstance(message, ms.BarsAppended):
            self.bars += len(message.bars)
        return self.bars  # asked anything else: the bars it has seen


strategy = Strategy.start()
with ms.MarketSessionSystem(
    "session_configs/example_session.json", "sqlite:///var/demo.db", speed=0
) as engine:
    engine.subscribe(lambda event: print(event.day, event.summary.bars_streamed), events=[ms.SessionEnded])
    engine.subscribe(strategy, events=[ms.BarsAppended], gating=True)  # the replay waits for it
    report = engine.run(timeout=300)  # start, wait (bounded), shut the engine's actors down
print(report.status, report.bars_streamed, "bars; the strategy saw", strategy.ask("how many?"))
strategy.stop()
