"""The benchmark suite: ``python -m ops.bench``. See :mod:`ops.bench.suite`."""
