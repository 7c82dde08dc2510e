"""Talking to the teacher endpoint: the official `openai` SDK over HTTP, and what its errors mean.

- `resolve_endpoint`: base URL from params, else OPENAI_BASE_URL, else OpenAI's, normalised
  (params.normalise_base_url: the endpoint's identity in request keys and provenance); the key only
  from OPENAI_API_KEY. The key lives in `Endpoint` (hidden from repr) and `redact` scrubs it from
  every string this package stores or prints.
- `post_completion` sends one request through the SDK; `normalize_completion` keeps what the
  pipeline needs of the answer.
- `ErrorPolicy.classify` sorts a failed attempt: worth a retry (429, 408/409, 5xx, timeouts,
  dropped connections, unreadable bodies), a failed row (`GiveUp`: another 4xx), or a broken
  endpoint (`EndpointError`: a rejected key (401/403), an unknown model or URL (404), exhausted
  quota, an endpoint that cannot be reached), which stops the run instead of retrying forever.
- `EndpointHealth` stops the run when the first FAIL_FAST_AFTER requests all fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx2
import openai

from stages.core.errors import UserError
from stages.generate.params import OpenAIParams
from stages.generate.teacher.limits import parse_retry_after

REDACTED = "[redacted]"
FAIL_FAST_AFTER = 8  # this many failed requests before any success: the endpoint, not the rows, is broken
CONNECT_ATTEMPTS_BEFORE_FIRST_SUCCESS = 2
ERROR_DETAIL_CHARS = 300
MAX_CAUSES = 10  # how far down an exception's __cause__ chain to look


@dataclass(frozen=True)
class Endpoint:
    """Where requests go (`base_url`, normalised) and the key that goes with them (never in repr)."""

    base_url: str
    api_key: str = field(repr=False)

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the API key replaced by "[redacted]"."""
        return text.replace(self.api_key, REDACTED) if self.api_key else text


def resolve_endpoint(settings: OpenAIParams) -> Endpoint:
    """Base URL from params, else OPENAI_BASE_URL, else OpenAI's; the key only from OPENAI_API_KEY.

    Raises UserError when OPENAI_API_KEY is unset (a local server without auth accepts any value).
    """
    api_key = os.environ.get("OPENAI_API_KEY", "")
    base_url = settings.endpoint_url()
    if not api_key:
        raise UserError(
            f"generate.backend is 'openai' but OPENAI_API_KEY is not set (endpoint {base_url}); "
            "a local server without auth accepts any value, e.g. OPENAI_API_KEY=none"
        )
    return Endpoint(base_url=base_url, api_key=api_key)


ClientFactory = Callable[[Endpoint], openai.AsyncOpenAI]


def default_client(endpoint: Endpoint) -> openai.AsyncOpenAI:
    """The SDK client: retries off (the runner counts, jitters and bounds them), and the SDK's
    aiohttp transport (`openai[aiohttp]`), which spends about half the CPU per request of the
    default httpx one; at 64 requests in flight that CPU is what the event loop is short of
    (BENCHMARKS.md, teacher backend)."""
    return openai.AsyncOpenAI(
        api_key=endpoint.api_key,
        base_url=endpoint.base_url,
        max_retries=0,
        http_client=openai.DefaultAioHttpClient(),
    )


async def post_completion(client: openai.AsyncOpenAI, body: dict[str, Any], timeout_s: float) -> tuple[Any, Any]:
    """POST /chat/completions through the SDK; returns the decoded JSON answer and the response headers.

    The typed `chat.completions.create()` walks our already plain-JSON arguments through the SDK's
    TypedDict transform and builds a pydantic model of the answer: about 1 ms of event-loop time
    per request, which at 64 requests in flight costs a tenth of the throughput. `client.post` is
    the SDK's documented way to send a body as-is; auth, base URL, timeout and the typed HTTP
    errors (RateLimitError, AuthenticationError...) are the SDK's all the same. Raises the SDK's
    errors, or ValueError for a body that is not JSON.
    """
    payload = {name: value for name, value in body.items() if name != "extra_body"}
    payload.update(body.get("extra_body") or {})
    options: Any = {"timeout": timeout_s}
    http_response = await client.post("/chat/completions", body=payload, cast_to=httpx2.Response, options=options)
    return json.loads(http_response.content), http_response.headers  # ValueError on a broken body: retried


def normalize_completion(completion: Any) -> dict[str, Any]:
    """The parts of a chat completion the pipeline keeps (servers omit fields: read defensively).

    Returns {content, refusal, finish_reason, model, system_fingerprint, created, usage} with usage
    {prompt_tokens, completion_tokens} or None; raises ValueError if the answer is not a JSON object.
    """
    if not isinstance(completion, dict):
        raise ValueError("the answer is not a JSON object")
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    usage = completion.get("usage")
    content = message.get("content")
    return {
        "content": content if isinstance(content, str) else None,
        "refusal": message.get("refusal"),
        "finish_reason": choice.get("finish_reason"),
        "model": completion.get("model"),
        "system_fingerprint": completion.get("system_fingerprint"),
        "created": completion.get("created"),
        "usage": {
            "prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0),
        }
        if isinstance(usage, dict)
        else None,
    }


class EndpointError(UserError):
    """The endpoint, not a row, is the problem: stop the run."""


class GiveUp(Exception):
    """This request failed for good (not cached); `reason` ("code: detail") goes on its rejected row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Retry:
    """A failed attempt worth another: `retry_after` is the server's wait in seconds (or None), and
    `window_headers` the headers of a 429 without retry-after, whose x-ratelimit window every
    worker should wait out."""

    retry_after: float | None = None
    window_headers: Any = None


def _causes(err: BaseException) -> list[BaseException]:
    chain = [err]
    while chain[-1].__cause__ is not None and len(chain) < MAX_CAUSES:
        chain.append(chain[-1].__cause__)
    return chain


_CONNECT_ERRORS = (httpx2.ConnectError, aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def connect_failed(err: BaseException) -> bool:
    """Whether the connection was never made (refused, unknown host, connect timeout): nothing was
    sent, so nothing was billed, and if it keeps happening the endpoint is unreachable. Read from the
    cause chain, because the aiohttp transport reports a refused connection as a ConnectTimeout."""
    return any(isinstance(cause, _CONNECT_ERRORS) for cause in _causes(err))


def maybe_billed(err: Exception) -> bool:
    """A timeout or a connection lost after sending: the server may have done (and billed) the work."""
    return isinstance(err, openai.APIConnectionError) and not connect_failed(err)


class ErrorPolicy:
    """What a failed attempt means, and how to say what happened without leaking the key."""

    def __init__(self, endpoint: Endpoint, settings: OpenAIParams) -> None:
        self.endpoint = endpoint
        self.timeout_s = settings.timeout_s
        self.attempts_allowed = settings.max_retries + 1

    def classify(self, err: Exception, model: str, attempt: int, connected_before: bool) -> Retry:
        """A `Retry` for errors worth another attempt; raises EndpointError for a broken endpoint,
        GiveUp for a request the server will not accept, and re-raises anything unexpected.

        `attempt` counts from 1; `connected_before`: whether any request of this run succeeded (a
        connection refused before then is an unreachable endpoint after a second try).
        """
        where = self.endpoint.base_url
        if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
            raise EndpointError(
                f"{where} rejected the API key (HTTP {err.status_code}): {self.describe(err)}; check OPENAI_API_KEY"
            ) from None
        if isinstance(err, openai.NotFoundError):
            raise EndpointError(
                f"{where} has no model '{model}' or no chat completions API there"
                f" (HTTP 404): {self.describe(err)}; check generate.openai.generators and the base URL"
            ) from None
        if isinstance(err, openai.RateLimitError):
            return self._rate_limited(err)
        if isinstance(err, openai.APIStatusError):
            if err.status_code in (408, 409) or err.status_code >= 500:
                return Retry(retry_after=parse_retry_after(err.response.headers))
            raise GiveUp(f"http_{err.status_code}: {self.describe(err)}") from None
        if isinstance(err, openai.APIConnectionError):  # APITimeoutError included
            if connect_failed(err):
                first = not connected_before and attempt >= min(
                    CONNECT_ATTEMPTS_BEFORE_FIRST_SUCCESS, self.attempts_allowed
                )
                if first or attempt >= self.attempts_allowed:
                    raise EndpointError(f"cannot reach the teacher endpoint {where}: {self.describe(err)}") from None
            return Retry()  # a timeout or a dropped connection: worth another try
        if isinstance(err, openai.APIResponseValidationError | ValueError):
            return Retry()  # an unreadable body: worth another try
        raise err

    def _rate_limited(self, err: openai.RateLimitError) -> Retry:
        if getattr(err, "code", None) == "insufficient_quota":
            where = self.endpoint.base_url
            raise EndpointError(f"{where}: the account has no quota left (HTTP 429 insufficient_quota)") from None
        retry_after = parse_retry_after(err.response.headers)
        if retry_after is None:  # all workers wait for the window's reset; this one also backs off
            return Retry(window_headers=err.response.headers)
        return Retry(retry_after=retry_after)

    def describe(self, err: Exception) -> str:
        """One line (at most ERROR_DETAIL_CHARS, then "...") saying what went wrong, key redacted."""
        if isinstance(err, openai.APIConnectionError):
            root = _causes(err)[-1]  # the transport's own error says what happened
            text = f"{type(root).__name__}: {root}"
            if isinstance(err, openai.APITimeoutError) and not str(root):
                text = f"timed out after {self.timeout_s}s"
        elif isinstance(err, openai.APIStatusError):
            text = f"HTTP {err.status_code} {getattr(err, 'message', '')}"
        else:
            text = f"{type(err).__name__}: {err}"
        text = self.endpoint.redact(" ".join(text.split()))
        return text if len(text) <= ERROR_DETAIL_CHARS else text[:ERROR_DETAIL_CHARS] + "..."


class EndpointHealth:
    """Successes and failures in a row: when the first FAIL_FAST_AFTER requests of a run all fail,
    the endpoint (not the rows) is broken and the run stops."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.succeeded = 0
        self.failed_in_a_row = 0

    def success(self) -> None:
        """Count a request that got a usable answer."""
        self.succeeded += 1
        self.failed_in_a_row = 0

    def failure(self, reason: str) -> None:
        """Count a request given up; raises EndpointError (naming `reason`) once no request has worked."""
        self.failed_in_a_row += 1
        if self.succeeded == 0 and self.failed_in_a_row >= FAIL_FAST_AFTER:
            raise EndpointError(
                f"the first {self.failed_in_a_row} requests to {self.endpoint.base_url} all failed; last: {reason}"
            )
