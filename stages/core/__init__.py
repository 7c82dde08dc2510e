"""What every stage uses: errors, JSONL I/O, hashing, the row schema, text normalisation, tallies, the params loader."""
