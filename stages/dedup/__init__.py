"""Stage dedup: exact and MinHash near-duplicates, against the seeds too, and decontamination against the eval sets."""
