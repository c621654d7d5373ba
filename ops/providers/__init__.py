"""Market-data provider adapters (SPEC §8): ``replay`` (stored bars as a live feed) and
``alpaca`` (Alpaca market data v2, REST + websocket). They implement
:class:`domain.providers.MarketDataProvider`."""
