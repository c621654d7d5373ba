"""``python -m ops.bench``: run the benchmark suite."""

from __future__ import annotations

from ops.bench.suite import main

if __name__ == "__main__":
    main()
