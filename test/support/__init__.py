"""Helpers shared by the tests (sample messages, process helpers)."""
