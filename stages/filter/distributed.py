"""The filter on Ray (PIPELINE_EXECUTOR=ray, stages/core/executor.py): shards of rows checked by Ray actors.

The driver (the stage's process) builds the checks once, as the local executor does (it needs their
metrics and the list of skipped checks anyway), and ships them to each actor once: every worker then
holds the same parsed policy and the same trained intent classifier, so no shard rebuilds them and no
worker can train a different model. Rows are read and parsed on the driver (so a bad line is the same
one-line error), sent in shards of SHARD_ROWS, checked by `filter_shard` in the actors, and the outcomes
come back in input order; `write_outcomes` writes them exactly as the local executor does (kept lines
concatenated in input order, tallies summed with GateTally.merge). Byte-identical outputs and metrics:
tests/test_ray.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from stages.core.executor import Executor, actor_cpus, ordered_map, ray_session, worker_count
from stages.core.tally import BATCH_ROWS, batches
from stages.filter.checks.base import Check, Row
from stages.filter.stage import FilterCounts, ShardOutcome, filter_shard, write_outcomes

SHARD_ROWS = 2 * BATCH_ROWS  # rows per actor call: ~3 s of checks, so Ray's ~1 ms per call is noise


class FilterWorker:
    """A Ray actor's state: the checks, unpickled once from the driver's."""

    def __init__(self, checks: Sequence[Check]) -> None:
        self.checks = list(checks)

    def run(self, rows: list[Row]) -> ShardOutcome:
        """Filter one shard (`stages.filter.stage.filter_shard`)."""
        return filter_shard(rows, self.checks)


def filtered_shards(
    ray: Any, rows: Iterable[Row], checks: Sequence[Check], workers: int, shard_rows: int = SHARD_ROWS
) -> Iterable[ShardOutcome]:
    """The outcome of every shard of `rows`, in input order, from `workers` actors (killed at the end)."""
    actor_class = ray.remote(num_cpus=actor_cpus(ray, workers))(FilterWorker)
    shipped = ray.put(list(checks))
    actors = [actor_class.remote(shipped) for _ in range(workers)]
    try:
        yield from ordered_map(ray, actors, "run", batches(rows, shard_rows))
    finally:
        for actor in actors:
            ray.kill(actor)


def write_filtered_on_ray(rows: Iterable[Row], checks: Sequence[Check], out: Path, executor: Executor) -> FilterCounts:
    """`stages.filter.stage.write_filtered` with the checks run by Ray actors: same files, same counts."""
    with ray_session(executor) as ray:
        shards = filtered_shards(ray, rows, checks, worker_count(ray, executor), executor.shard_rows or SHARD_ROWS)
        return write_outcomes(shards, out)
