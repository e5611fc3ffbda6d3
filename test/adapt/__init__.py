"""Tests of bring-your-own-VLM: frames, models by name, make-draft, train-adapters on frames, the recipe."""
