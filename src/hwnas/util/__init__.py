"""Helpers that belong to no one room: files written whole, random states, Markdown tables and
the cache folder."""
