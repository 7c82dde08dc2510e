"""A small OpenAI-compatible chat completions server on 127.0.0.1, for tests and bench/.

It answers like a teacher that follows our prompts: for a variation it rewrites the customer turns
of the conversation it finds between <conversation> tags, for a reply it writes a policy-style
answer. It counts requests, checks the bearer key, and injects faults on demand:

- `faults`: arrival number (1-based, complete requests) -> one of FAULTS, for that request only;
- `content_fault(body)`: per-request answer faults (deterministic per request, unlike arrival
  order): "malformed" (not JSON), "length" (cut off, finish_reason=length), "refusal", "prose"
  (JSON wrapped in prose, which the client must still parse), "almost_json" (a trailing comma and
  a raw newline in a string: json-repair's job), "word_salad" (each customer turn opens with nine
  content words and no function word, "Envelope partner urgent screen friend statement airport
  weekend salary.", as an over-heated model writes: the filter's word_salad check's job),
  "http_400" (refused every time), "http_500";
- `requests_per_window`: a rate limit of so many requests per `window_s`, announced on every answer
  with OpenAI's `x-ratelimit-*-requests` headers (unless `window_headers` is False); a request over
  it gets a 429 (counted as fault "window_429") without retry-after, or with the time to the
  window's reset when `window_retry_after` is set;
- `refused_formats`: response formats (as `response_format_name` spells them: "json_schema",
  "json_object+schema", "json_object", "none") refused with llama.cpp's HTTP 500 ("Input should be
  'text' or 'json_object'");
- `context_tokens`: a context size; a request whose prompt (characters / 4, as `usage` counts it)
  plus its token limit is over it gets llama.cpp's and OpenAI's HTTP 400 "This model's maximum
  context length is N tokens...";
- `batches` (tests/openai_batches.py): OpenAI's Files and Batch APIs, each line answered as above.

Run standalone (its own process, so it does not share the benchmark's GIL):
    python -m tests.openai_server --latency 0.2      # prints "PORT <n>", serves until killed
It accepts one bearer key, TEST_API_KEY below (any other gets OpenAI's 401 "Incorrect API key
provided"), so point a client (the pipeline, the openai SDK) at it with:
    export OPENAI_API_KEY=sk-test-3f9c2b7e5a1d4c8e9f0a6b2d7c1e5f3a
    export OPENAI_BASE_URL=http://127.0.0.1:<n>/v1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.openai_batches import BatchStore

TEST_API_KEY = "sk-test-3f9c2b7e5a1d4c8e9f0a6b2d7c1e5f3a"
FAULTS = ("429", "500", "slow", "drop", "bad_body")
CONTENT_FAULTS = ("malformed", "length", "refusal", "prose", "http_400", "http_500", "almost_json", "word_salad")
WORDS = (
    "hello", "morning", "evening", "quick", "question", "honestly", "worried", "confused", "again", "yesterday",
    "today", "weekend", "abroad", "holiday", "phone", "laptop", "online", "shop", "restaurant", "taxi", "train",
    "airport", "hotel", "rent", "salary", "friend", "partner", "mum", "brother", "landlord", "deadline", "urgent",
    "please", "thanks", "sorry", "help", "really", "still", "never", "already", "maybe", "statement", "balance",
    "screen", "button", "message", "email", "letter", "envelope", "post", "office", "branch", "queue", "weeks",
)  # fmt: skip
# A well-behaved teacher's new sentence: nouns joined by function words (`reworded`).
NOUNS = (
    "phone", "laptop", "shop", "restaurant", "taxi", "train", "airport", "hotel", "friend", "partner", "brother",
    "landlord", "deadline", "postcard", "screen", "button", "message", "email", "letter", "envelope", "office",
    "balcony", "queue", "weekend", "holiday", "evening", "question", "neighbour", "kitchen", "garden", "bicycle",
    "library", "market", "bakery", "station", "ticket", "umbrella", "window", "printer", "notebook", "calendar",
    "meeting", "colleague", "cousin", "sister", "teacher", "doctor", "dentist", "parcel", "courier", "bus",
    "ferry", "bridge", "museum", "concert", "birthday", "wedding", "recipe", "coffee", "sandwich",
)  # fmt: skip
PREPOSITIONS = ("about", "after", "before", "from", "near", "with", "for", "at", "by", "behind", "beside", "under",
                "over", "without", "during", "around", "past", "through", "inside", "beyond")  # fmt: skip
DETERMINERS = ("the", "my", "our", "your", "his", "her", "their", "this", "that")
_CONVERSATION = re.compile(r"<conversation>\s*(.*?)\s*</conversation>", re.DOTALL)
Reply = tuple[int, dict[str, Any], dict[str, str]]  # HTTP status, JSON body, extra headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 resets connections when 64 clients connect at once
    fake: FakeOpenAIServer  # the state and settings the handler answers from


class FakeOpenAIServer:
    def __init__(
        self,
        api_key: str = TEST_API_KEY,
        latency_s: float = 0.0,
        slow_s: float = 2.0,
        faults: dict[int, str] | None = None,
        content_fault: Callable[[dict[str, Any]], str | None] | None = None,
        retry_after: str = "0.05",
        port: int = 0,
        requests_per_window: int | None = None,
        window_s: float = 1.0,
        refused_formats: set[str] | None = None,
        context_tokens: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.slow_s = slow_s
        self.faults = dict(faults or {})
        self.content_fault = content_fault
        self.retry_after = retry_after
        self.requests_per_window = requests_per_window
        self.window_s = window_s
        self.window_headers = True
        self.window_retry_after = False
        self.refused_formats = set(refused_formats or ())
        self.context_tokens = context_tokens
        self.batches = BatchStore(self)
        self.window_ends = 0.0
        self.window_used = 0
        self.lock = threading.Lock()
        self.arrivals = 0  # every HTTP request, faults included
        self.completed = 0  # 200 answers written
        # hold_after = N: answers beyond the first N wait until `release` is set, so a test can act on a run
        # that is certainly mid-way, however slowly this machine schedules the test's own thread.
        self.hold_after: int | None = None
        self.release = threading.Event()
        self._admitted_answers = 0
        self.fault_counts: Counter[str] = Counter()
        self.body_counts: Counter[str] = Counter()  # sha256 of each request body -> times seen
        self.auth_headers: list[str] = []
        self.response_formats: Counter[str] = Counter()  # "json_schema", "json_object+schema", "none"...
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.fake = self
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAIServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def reset_counts(self) -> None:
        with self.lock:
            self.arrivals = self.completed = 0
            self.fault_counts.clear()
            self.body_counts.clear()
            self.auth_headers.clear()
            self.response_formats.clear()

    def count_in_window(self) -> dict[str, str]:
        """Count a request against the rate-limit window; its x-ratelimit headers (remaining -1: over)."""
        if self.requests_per_window is None:
            return {}
        with self.lock:
            now = time.monotonic()
            if now >= self.window_ends:
                self.window_ends, self.window_used = now + self.window_s, 0
            self.window_used += 1
            remaining = max(-1, self.requests_per_window - self.window_used)
            reset_ms = math.ceil((self.window_ends - now) * 1000)
        if not self.window_headers:
            return {"x-ratelimit-remaining-requests": str(remaining), "reset-ms": str(reset_ms)}
        return {
            "x-ratelimit-limit-requests": str(self.requests_per_window),
            "x-ratelimit-remaining-requests": str(remaining),
            "x-ratelimit-reset-requests": f"{reset_ms}ms",
        }

    def record_arrival(self, raw: bytes, authorization: str) -> str | None:
        """Count one complete request; returns the fault asked for its arrival number, if any."""
        with self.lock:
            self.arrivals += 1
            fault = self.faults.get(self.arrivals)
            self.body_counts[hashlib.sha256(raw).hexdigest()] += 1
            self.auth_headers.append(authorization)
            if fault:
                self.fault_counts[fault] += 1
        return fault

    def refuse_key(self, authorization: str) -> Reply | None:
        """The 401 a request with the wrong key gets (echoing the key, as real servers do), or None."""
        if authorization == f"Bearer {self.api_key}":
            return None
        message = f"Incorrect API key provided: {authorization.removeprefix('Bearer ')}"
        return 401, {"error": {"message": message, "type": "invalid_request_error"}}, {}

    def admit(self, path: str, authorization: str, fault: str | None) -> tuple[Reply | None, dict[str, str]]:
        """(the error reply a request gets before any answer is made: route, key, rate limits, a 500;
        or None), and the x-ratelimit headers for its answer."""
        if not path.endswith("/chat/completions"):
            return (404, {"error": {"message": f"no route {path}", "type": "not_found"}}, {}), {}
        if authorization != f"Bearer {self.api_key}":
            # Real servers echo (part of) the key; the client must not store or print it.
            message = f"Incorrect API key provided: {authorization.removeprefix('Bearer ')}"
            return (401, {"error": {"message": message, "type": "invalid_request_error"}}, {}), {}
        error = {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}
        if fault == "429":
            return (429, error, {"retry-after": self.retry_after}), {}
        limit_headers = self.count_in_window()
        if limit_headers.get("x-ratelimit-remaining-requests") == "-1":
            limit_headers["x-ratelimit-remaining-requests"] = "0"
            with self.lock:
                self.fault_counts["window_429"] += 1
            reset_ms = limit_headers.pop("reset-ms", None) or limit_headers["x-ratelimit-reset-requests"][:-2]
            if not self.window_headers:
                limit_headers = {}
            if self.window_retry_after:
                limit_headers["retry-after-ms"] = reset_ms
            return (429, error, limit_headers), {}
        if not self.window_headers:
            limit_headers = {}
        if fault == "500":
            return (500, {"error": {"message": "The server had an error", "type": "server_error"}}, {}), {}
        return None, limit_headers

    def chat_reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) of a chat completion request, without transport faults: format
        refusals, the context limit, content faults, else a teacher's answer."""
        name = response_format_name(body)
        with self.lock:
            self.response_formats[name] += 1
        if name in self.refused_formats:  # llama.cpp's pydantic error, as its server returns it
            message = (
                "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'),"
                f" 'msg': \"Input should be 'text' or 'json_object'\", 'input': '{name}'}}"
            )
            return 500, {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}
        prompt = sum(len(m["content"]) for m in body["messages"]) // 4
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
        if self.context_tokens is not None and prompt + limit > self.context_tokens:
            message = (
                f"This model's maximum context length is {self.context_tokens} tokens. However, you requested"
                f" {prompt + limit} tokens ({prompt} in the messages, {limit} in the completion). Please reduce"
                " the length of the messages or completion."
            )
            error = {"message": message, "type": "invalid_request_error", "param": "messages"}
            return 400, {"error": {**error, "code": "context_length_exceeded"}}
        content_fault = self.content_fault(body) if self.content_fault else None
        if content_fault == "http_400":  # a request this server will never accept
            return 400, {"error": {"message": "context too long", "type": "invalid_request_error"}}
        if content_fault == "http_500":
            return 500, {"error": {"message": "The server had an error", "type": "server_error"}}
        content, finish = answer(body, content_fault)
        return 200, completion(body, content, finish, refused=content_fault == "refusal")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake, path = self.server.fake, self.path.split("?")[0]
        refused = fake.refuse_key(self.headers.get("authorization", ""))
        if refused is not None:
            return self._json(*refused)
        parts = path.strip("/").split("/")  # v1, batches|files, id, content
        if parts[1:] == ["batches"]:
            return self._json(*fake.batches.listing())
        if len(parts) == 3 and parts[1] == "batches":
            return self._json(*fake.batches.retrieve(parts[2]))
        if len(parts) == 4 and parts[1] == "files" and parts[3] == "content":
            status, data = fake.batches.content(parts[2])
            return self._send(status, data, {"content-type": "application/octet-stream"})
        return self._json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

    def _batch_api(self, raw: bytes) -> None:
        fake, path = self.server.fake, self.path.split("?")[0]
        refused = fake.refuse_key(self.headers.get("authorization", ""))
        if refused is not None:
            return self._json(*refused)
        if path.endswith("/files"):
            return self._json(*fake.batches.upload(self.headers.get("content-type", ""), raw))
        if path.endswith("/cancel"):
            return self._json(*fake.batches.cancel(path.strip("/").split("/")[2]))
        return self._json(*fake.batches.create(json.loads(raw)))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if "/files" in self.path or "/batches" in self.path:
            return self._batch_api(raw)
        try:
            body = json.loads(raw)
        except ValueError:  # a client killed mid-request sends half a body: not a request
            self.close_connection = True
            return self._json(400, {"error": {"message": "body is not JSON", "type": "invalid_request"}})
        fake, authorization = self.server.fake, self.headers.get("authorization", "")
        fault = fake.record_arrival(raw, authorization)
        refused, limit_headers = fake.admit(self.path, authorization, fault)
        if refused is not None:
            return self._json(*refused)
        if fault == "drop":
            self.close_connection = True  # no response at all: the client sees a disconnect
            return None
        return self._answer(body, fault, limit_headers)

    def _answer(self, body: dict[str, Any], fault: str | None, limit_headers: dict[str, str]) -> None:
        fake = self.server.fake
        time.sleep(fake.slow_s if fault == "slow" else fake.latency_s)
        if fake.hold_after is not None:
            with fake.lock:
                fake._admitted_answers += 1
                held = fake._admitted_answers > fake.hold_after
            if held:
                fake.release.wait(timeout=120)
        if fault == "bad_body":
            return self._send(200, b'{"id": "chatcmpl-x", "choices": [', {"content-type": "application/json"})
        status, value = fake.chat_reply(body)
        self._json(status, value, limit_headers if status == 200 else {})
        if status == 200:
            with fake.lock:
                fake.completed += 1
        return None

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), {"content-type": "application/json", **(headers or {})})

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            self.close_connection = True


def answer(body: dict[str, Any], content_fault: str | None) -> tuple[str, str]:
    """(content, finish_reason) a well-behaved teacher would give, unless a fault is asked for."""
    prompt = body["messages"][-1]["content"]
    match = _CONVERSATION.search(prompt)
    turns = json.loads(match.group(1)) if match else [{"role": "user", "content": "hello"}]
    tag = f"{body['model']} {body.get('seed')}"
    if _wants_reply(body):
        value: dict[str, Any] = {
            "reply": f"Thanks for asking ({tag}). Open the app, go to Help, pick this topic and follow the steps;"
            " I will hand you over to an agent if anything looks wrong."
        }
    else:
        rng = random.Random(tag)
        reword = word_salad if content_fault == "word_salad" else reworded
        messages = [
            {"role": t["role"], "content": reword(t["content"], rng) if t["role"] == "user" else t["content"]}
            for t in turns
        ]
        value = {"messages": messages}
    text = json.dumps(value)
    if content_fault == "malformed":
        return "Sure! Here is the conversation: messages = [user: hi, assistant: hello", "stop"
    if content_fault == "length":
        return text[: len(text) // 2], "length"
    if content_fault == "prose":
        return f"Here you go:\n```json\n{text}\n```\nHope this helps.", "stop"
    if content_fault == "almost_json":  # what small models write: a trailing comma, a raw newline
        return text[:-1].replace(". ", ".\n", 1) + ",}", "stop"
    return text, "stop"


def reworded(text: str, rng: random.Random) -> str:
    """A customer turn with a new sentence before the seed's own: nine nouns drawn per request, in three
    compounds joined by function words ("The laptop screen email with my weekend holiday message and the
    queue question branch."); no near-copy of the seed, no frame on every row, its numbers, names and
    negations kept (the filter's meaning check rejects a turn that drops them), and never a clause
    without a function word (that is `word_salad`, which the filter rejects)."""
    nouns = rng.sample(NOUNS, 9)
    first, second, third = (" ".join(nouns[i : i + 3]) for i in (0, 3, 6))
    join, other = (f"{rng.choice(PREPOSITIONS)} {rng.choice(DETERMINERS)}" for _ in range(2))
    return f"{rng.choice(DETERMINERS).capitalize()} {first} {join} {second} {other} {third}. {text}"


def word_salad(text: str, rng: random.Random) -> str:
    """The "word_salad" fault: nine content words with no function word before the seed's turn (what
    this server answered to every variation request before the filter had a word_salad check)."""
    words = rng.sample(WORDS, 9)
    return f"{' '.join(words).capitalize()}. {text}"


def response_format_name(body: dict[str, Any]) -> str:
    response_format = body.get("response_format")
    if not response_format:
        return "none"
    return response_format["type"] + ("+schema" if "schema" in response_format else "")


def _wants_reply(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format") or {}
    name = (response_format.get("json_schema") or {}).get("name")
    if name:
        return name == "reply"
    return '{"reply":' in body["messages"][-1]["content"]


def completion(body: dict[str, Any], content: str, finish_reason: str, refused: bool = False) -> dict[str, Any]:
    prompt_chars = sum(len(m["content"]) for m in body["messages"])
    refusal = "I'm sorry, I can't help with that." if refused else None
    content_or_none = None if refused else content
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": f"{body['model']}-2026-01-01",
        "system_fingerprint": "fp_test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content_or_none, "refusal": refusal},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": max(1, len(content) // 4),
            "total_tokens": prompt_chars // 4 + max(1, len(content) // 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--requests-per-window", type=int, default=None, help="a rate limit: requests per window")
    parser.add_argument("--window-s", type=float, default=1.0)
    parser.add_argument("--no-window-headers", action="store_true", help="do not announce the limit (x-ratelimit-*)")
    parser.add_argument("--window-retry-after", action="store_true", help="429s over the window carry retry-after")
    parser.add_argument("--fault-429-every", type=int, default=0, help="every Nth request: 429 with --retry-after")
    parser.add_argument("--retry-after", default="0.2")
    args = parser.parse_args()
    server = FakeOpenAIServer(
        latency_s=args.latency,
        port=args.port,
        retry_after=args.retry_after,
        requests_per_window=args.requests_per_window,
        window_s=args.window_s,
        faults=(
            {n: "429" for n in range(args.fault_429_every, 10**6, args.fault_429_every)}
            if args.fault_429_every
            else None
        ),
    )
    server.window_headers = not args.no_window_headers
    server.window_retry_after = args.window_retry_after
    print(f"PORT {server.httpd.server_address[1]}", flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
