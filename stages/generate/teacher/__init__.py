"""The teacher backend: requests planned per seed, prompts, transport with limits, a per-request cache, answers parsed."""
