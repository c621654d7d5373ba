"""Trailing history before a session day: the series loaded, and the indicators computed on them."""
