"""Benchmarks and their emulation: link, costs, replayed and honest robots, hostile frames; nothing here runs on a robot or in the cloud."""
