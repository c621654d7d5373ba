"""Data quality (SPEC §7): the scoring rules, gap tracking, the day's quality book, the gap book."""
