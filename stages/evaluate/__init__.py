"""Stage evaluate: probes trained on human-only, synthetic-only and mix rows, scored per slice on real traffic."""
