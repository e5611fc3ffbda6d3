"""The embedded default: a small draft/target VLM pair trained on the simulated Go2 world."""
