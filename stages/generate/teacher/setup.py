"""What one teacher run sends with: a `TeacherSetup`, built once by run._send for either path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from stages.generate.params import ModelPrice, OpenAIParams
from stages.generate.teacher.cache import ResponseCache
from stages.generate.teacher.formats import EndpointFacts
from stages.generate.teacher.limits import Budget
from stages.generate.teacher.progress import Progress
from stages.generate.teacher.transport import ClientFactory, Endpoint


@dataclass(frozen=True)
class TeacherSetup:
    """Everything the direct path (direct.TeacherRunner) and the Batch API path (batch.BatchRunner)
    share: `settings` (params generate.openai), the resolved `endpoint` (URL and key), the response
    `cache`, the `progress` bar, what the endpoint reported (`facts`), the price per model at this
    endpoint (`prices`), the run's `budget` in USD, the factory of the direct path's async SDK client,
    and `log`, the stream that gets notices and the first failure's reason in full."""

    settings: OpenAIParams
    endpoint: Endpoint
    cache: ResponseCache
    progress: Progress
    facts: EndpointFacts
    prices: dict[str, ModelPrice]
    budget: Budget
    client_factory: ClientFactory
    log: IO[str]
