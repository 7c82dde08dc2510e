"""Stage dedup: exact and MinHash near-duplicates, against the seeds too, and decontamination against the eval sets.

Phases (as in datatrove's MinHash dedup): signatures.py, candidates.py, verification.py, walk.py, driven
by near_duplicates.py with one NearDuplicateConfig (config.py); decontamination.py; the opt-in lineage walk:
flat.py and lineage.py; on Ray: shuffle.py, distributed.py, distributed_lineage.py; the stage: stage.py.
"""
