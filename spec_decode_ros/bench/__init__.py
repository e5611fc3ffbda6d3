"""Benchmarks and their emulation: the link, forward costs, paced drafts, replayed and honest robots, hostile frames,
and the entry points that put the emulation around a runtime command (``emulated_cloud``, ``emulated_draft_node``).
Nothing here runs on a robot or in the cloud, and no module outside this package imports it."""
