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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system, own and reaped children's) of process `root` and its live descendants,
    from /proc (Ray's workers start their own sessions, so the tree, not the process group): sampled
    before and after a run, the difference is what the cluster spent on it."""
    ticks, parents, spent = os.sysconf("SC_CLK_TCK"), {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])  # ppid; utime, stime, cutime, cstime are fields 11-14
            spent[int(entry.name)] = sum(int(value) for value in fields[11:15])
    total = 0
    for pid, ticks_spent in spent.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        total += ticks_spent if ancestor == root else 0
    return total / ticks


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


def _wait_for_start(head: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and head.poll() is None:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError("ray start --head did not start:\n" + log.read_text(errors="replace")[-3000:])
