"""Typed, immutable messages: commands between the engine's actors, and the events it publishes."""
