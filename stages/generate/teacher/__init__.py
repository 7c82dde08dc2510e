"""The teacher backend: request plan, prompts, transport with limits, a per-request cache, answer parsing."""
