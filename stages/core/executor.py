"""Where a stage's heavy work runs: in this process (local) or on a Ray cluster, chosen by the environment.

    PIPELINE_EXECUTOR   local (default: Ray is never imported) | ray
    RAY_ADDRESS         ray only: the cluster to join (e.g. 127.0.0.1:6379, or "auto"); unset: a local Ray
                        starts in this process with PIPELINE_WORKERS CPUs
    PIPELINE_WORKERS    ray only: worker processes (actors) to use; default: the cluster's CPUs
    PIPELINE_SHARD_ROWS ray only: rows per shard sent to a worker; default: each stage's own (tuning only)

The choice is environment, never params: a cluster address belongs to a machine, and outputs do not depend
on it (a test checks that both executors write byte-identical files), so switching must neither rerun a
stage nor show in `dvc params diff`. The stage's own process is always the driver: it reads the workspace
files DVC declared, sends shards to the workers and writes the declared outputs, so a remote cluster needs
no access to the workspace. Ray comes with the install extra `[distributed]` (pyproject.toml).

Errors: a bad value of one of these variables, or PIPELINE_EXECUTOR=ray without Ray installed, is a
UserError naming the variable.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.core.errors import UserError

EXECUTORS = ("local", "ray")
IN_FLIGHT_PER_WORKER = 2  # shards sent ahead per worker: keeps workers busy, bounds driver memory


@dataclass(frozen=True)
class Executor:
    """The executor the environment asks for: `kind` local or ray, the cluster `address` (None: start a
    local Ray), the number of `workers` (None: the cluster's CPUs) and `shard_rows` (None: the stage's)."""

    kind: str = "local"
    address: str | None = None
    workers: int | None = None
    shard_rows: int | None = None

    @property
    def distributed(self) -> bool:
        """True when the work goes to Ray."""
        return self.kind == "ray"


def executor_from_env(environ: Mapping[str, str] | None = None) -> Executor:
    """The executor of `environ` (default os.environ); UserError naming the variable on a bad value."""
    environ = os.environ if environ is None else environ
    kind = environ.get("PIPELINE_EXECUTOR", "").strip().lower() or "local"
    if kind not in EXECUTORS:
        raise UserError(f"PIPELINE_EXECUTOR: '{kind}' is not one of {list(EXECUTORS)}")
    address = environ.get("RAY_ADDRESS", "").strip() or None
    return Executor(kind, address, _count(environ, "PIPELINE_WORKERS"), _count(environ, "PIPELINE_SHARD_ROWS"))


def _count(environ: Mapping[str, str], name: str) -> int | None:
    """The whole number >= 1 in variable `name` (None if unset or empty); UserError otherwise."""
    text = environ.get(name, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"{name}: '{text}' is not a whole number of at least 1")
    return int(text)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("PIPELINE_EXECUTOR=ray: Ray is not installed (pip install -e '.[distributed]')") from None
    return ray


@contextlib.contextmanager
def ray_session(executor: Executor) -> Iterator[Any]:
    """The `ray` module, connected: an already initialised Ray is used as it is (and left running);
    otherwise Ray joins `executor.address`, or starts locally with `executor.workers` CPUs, and is shut
    down after the block. Joining a cluster ships the `stages` package to its workers (runtime_env
    py_modules), so they run the driver's code whatever is installed there."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": True}
    if executor.address:
        package = Path(__file__).resolve().parents[1]
        options |= {"address": executor.address, "runtime_env": {"py_modules": [str(package)]}}
    else:
        options["num_cpus"] = executor.workers or os.cpu_count() or 1
    ray.init(**options)
    try:
        yield ray
    finally:
        ray.shutdown()


def worker_count(ray: Any, executor: Executor) -> int:
    """Workers to start: PIPELINE_WORKERS, else the cluster's CPUs (at least 1)."""
    return executor.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))


def actor_cpus(ray: Any, workers: int) -> float:
    """CPUs to reserve per actor so that all `workers` actors fit in the cluster at once: 1, or a
    fraction when there are more workers than CPUs (an actor that cannot be placed would never run
    its shards, and the map would wait forever). Actors are killed when their map ends, so the
    tasks that follow get the CPUs back."""
    return min(1.0, float(ray.cluster_resources().get("CPU", 1)) / workers)


def unwrapped(ray: Any, error: BaseException) -> BaseException:
    """The UserError a worker raised, if `error` carries one (so the stage says it in one line), else `error`."""
    if isinstance(error, ray.exceptions.RayTaskError) and isinstance(error.cause, UserError):
        return error.cause
    return error


def ordered_map(ray: Any, actors: list[Any], method: str, items: Iterable[Any]) -> Iterator[Any]:
    """`actor.method(item)` for every item, spread round-robin over `actors`, results in item order.

    At most IN_FLIGHT_PER_WORKER items per actor are sent ahead, so the driver streams: memory holds a
    few shards, never the whole input. A worker's UserError is raised here as such.
    """
    pending: deque[Any] = deque()
    limit = IN_FLIGHT_PER_WORKER * len(actors)
    try:
        for number, item in enumerate(items):
            if len(pending) >= limit:
                yield ray.get(pending.popleft())
            pending.append(getattr(actors[number % len(actors)], method).remote(item))
        while pending:
            yield ray.get(pending.popleft())
    except ray.exceptions.RayTaskError as err:
        raise unwrapped(ray, err) from None
