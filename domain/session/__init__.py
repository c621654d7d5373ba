"""One session day: its windows, the replay and live days, derived bars, the session data and
the lifecycle."""
