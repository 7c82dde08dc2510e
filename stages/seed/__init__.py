"""Stage seed: expert cases and logged failures validated into seed rows, and the real-traffic eval split."""
