"""The benchmark suite (issue 4): ``python -m ops.bench``. See :mod:`ops.bench.suite`."""
