"""Shared pieces every stage uses: row schema, JSONL I/O, hashing, params, errors."""
