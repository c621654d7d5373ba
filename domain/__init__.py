"""Pure logic and data of marketsession: no pykka, no threads, no wall-clock reads."""
