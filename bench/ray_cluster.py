"""A Ray head on 127.0.0.1 for tests and benchmarks, started as a child and stopped by its process id.

`ray stop` would end every Ray on the machine (other sessions' too), so the head runs as
`ray start --head --block` in its own process group: SIGTERM to that process stops what it started,
and the group is killed by its id if it does not. Token authentication is on (RAY_AUTH_MODE=token)
with a fresh random token that only the environment this yields carries.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tree_ticks(root: int) -> dict[int, int]:
    """{pid: user + system clock ticks} of `root` and its live descendants, from /proc."""
    parents, spent = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])  # ppid; utime and stime are fields 11 and 12
            spent[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree = {}
    for pid, ticks in spent.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            tree[pid] = ticks
    return tree


class TreeCpu:
    """CPU seconds spent by a process tree (a Ray head: raylet, workers, actors) while running, sampled
    from /proc every `interval` seconds: Ray reaps its workers without adding their time to the
    raylet's (cutime stays 0), and a job's workers end with the job, so the samples must catch them
    alive. Each process counts from its first to its last sample (or from 0 if it started after the
    first one): up to `interval` of CPU per process that ends between samples is missed."""

    def __init__(self, root: int, interval: float = 0.2) -> None:
        self.root, self.interval = root, interval
        self._first = _tree_ticks(root)
        self._last = dict(self._first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._last.update(_tree_ticks(self.root))

    def __enter__(self) -> TreeCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(_tree_ticks(self.root))

    @property
    def seconds(self) -> float:
        """CPU seconds between entering and leaving."""
        ticks = sum(last - self._first.get(pid, 0) for pid, last in self._last.items())
        return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def ray_head(cpus: int, base_env: dict[str, str]) -> Iterator[tuple[dict[str, str], int]]:
    """(environment for a driver to join the head, the head's process group id). Raises
    AssertionError with the head's log if it does not start within 120 s."""
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = free_port()
    env = {**base_env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "PYTHONUNBUFFERED": "1"}
    ray = Path(sys.executable).parent / "ray"
    command = [str(ray), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
               f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats",
               f"--temp-dir={temp_dir}"]  # fmt: skip
    log = Path(temp_dir) / "head.log"
    with log.open("w") as handle:
        head = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_start(head, log)
        yield {**env, "PIPELINE_EXECUTOR": "ray", "RAY_ADDRESS": f"127.0.0.1:{port}"}, head.pid
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # the group we started, by its id
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)  # the session's logs and sockets


def _wait_for_start(head: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and head.poll() is None:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError("ray start --head did not start:\n" + log.read_text(errors="replace")[-3000:])
