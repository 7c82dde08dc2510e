"""OpenAI's Files and Batch APIs for tests/openai_server.py: /v1/files and /v1/batches on 127.0.0.1.

Behaves as OpenAI documents it: a JSONL file uploaded with purpose `batch` (multipart), a batch
created on it (`completion_window` 24h) goes validating -> in_progress -> finalizing -> completed;
its output file holds one line per answered request ({"custom_id", "response": {"status_code",
"body"}}), its error file the others. A batch that ends early (`stop_after` lines, then status
`end_status`: "expired" or "cancelled") keeps what it answered and lists the rest in its error file
with code batch_expired / batch_cancelled. Files over `max_lines` lines or `max_bytes` bytes fail
validation. Each line is answered by the server's chat logic (`FakeOpenAIServer.chat_reply`), so
format refusals, context limits and content faults apply to batch lines too.

Counters for tests: `files` (uploads), `created` (batches), `answered_lines` (lines answered with
200: what OpenAI would bill), `largest_file` (lines, bytes).
"""

from __future__ import annotations

import email.parser
import json
import threading
import time
from typing import Any

Reply = tuple[int, Any]


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields of a multipart/form-data body: name -> (filename, bytes)."""
    message = email.parser.BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    fields = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


class BatchStore:
    """Uploaded files and batches of one fake server; `fake` answers each line."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.lock = threading.Lock()
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"object": file object, "data": bytes}
        self.batches: dict[str, dict[str, Any]] = {}
        self.line_s = 0.0  # time to answer one line
        self.start_s = 0.0  # time a batch spends validating
        self.stop_after: int | None = None  # lines answered before the batch ends early ...
        self.end_status = "expired"  # ... with this status
        self.max_lines = 50_000
        self.max_bytes = 200_000_000
        self.created = self.answered_lines = 0
        self.largest_file = (0, 0)

    def upload(self, content_type: str, raw: bytes) -> Reply:
        """POST /v1/files."""
        fields = parse_multipart(content_type, raw)
        filename, data = fields.get("file", (None, b""))
        purpose = fields.get("purpose", (None, b""))[1].decode()
        with self.lock:
            file_id = f"file-{len(self.files) + 1:04d}"
            record = {
                "id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": filename or "upload.jsonl", "purpose": purpose, "status": "processed",
            }  # fmt: skip
            self.files[file_id] = {"object": record, "data": data}
        return 200, record

    def _store_file(self, lines: list[dict[str, Any]], name: str) -> str:
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        file_id = f"file-{len(self.files) + 1:04d}"
        record = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                  "filename": name, "purpose": "batch_output", "status": "processed"}  # fmt: skip
        self.files[file_id] = {"object": record, "data": data}
        return file_id

    def content(self, file_id: str) -> tuple[int, bytes]:
        """GET /v1/files/{id}/content."""
        with self.lock:
            found = self.files.get(file_id)
        return (200, found["data"]) if found else (404, b'{"error": {"message": "no such file"}}')

    def create(self, body: dict[str, Any]) -> Reply:
        """POST /v1/batches: validate the input file, then answer it in a background thread."""
        with self.lock:
            found = self.files.get(body.get("input_file_id", ""))
            if found is None:
                return 400, {"error": {"message": "input_file_id not found", "type": "invalid_request_error"}}
            self.created += 1
            batch_id = f"batch_{self.created:04d}"
            now = int(time.time())
            batch = {
                "id": batch_id, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body.get("completion_window"),
                "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now,
                "expires_at": now + 86400, "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
            }  # fmt: skip
            self.batches[batch_id] = batch
        threading.Thread(target=self._process, args=(batch, found["data"]), daemon=True).start()
        return 200, dict(batch)

    def retrieve(self, batch_id: str) -> Reply:
        """GET /v1/batches/{id}."""
        with self.lock:
            batch = self.batches.get(batch_id)
            return (200, json.loads(json.dumps(batch))) if batch else (404, {"error": {"message": "no such batch"}})

    def listing(self) -> Reply:
        """GET /v1/batches: every batch, newest first."""
        with self.lock:
            data = [json.loads(json.dumps(b)) for b in reversed(self.batches.values())]
        return 200, {"object": "list", "data": data, "has_more": False, "first_id": None, "last_id": None}

    def cancel(self, batch_id: str) -> Reply:
        """POST /v1/batches/{id}/cancel: the batch stops after the line it is on."""
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return 404, {"error": {"message": "no such batch"}}
            if batch["status"] in ("validating", "in_progress"):
                batch["status"] = "cancelling"
            return 200, json.loads(json.dumps(batch))

    def _validate(self, data: bytes) -> tuple[list[dict[str, Any]], str | None]:
        lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
        with self.lock:
            self.largest_file = max(self.largest_file, (len(lines), len(data)))
        if len(lines) > self.max_lines:
            return lines, f"The input file has {len(lines)} requests; the limit is {self.max_lines}."
        if len(data) > self.max_bytes:
            return lines, f"The input file is {len(data)} bytes; the limit is {self.max_bytes}."
        ids = [line.get("custom_id") for line in lines]
        if len(set(ids)) != len(ids) or any(line.get("url") != "/v1/chat/completions" for line in lines):
            return lines, "custom_id values must be unique and url must be /v1/chat/completions"
        return lines, None

    def _process(self, batch: dict[str, Any], data: bytes) -> None:
        time.sleep(self.start_s)
        lines, problem = self._validate(data)
        with self.lock:
            if problem:
                batch.update(
                    status="failed", errors={"object": "list", "data": [{"code": "invalid", "message": problem}]}
                )
                return
            batch["status"] = "in_progress"
            batch["request_counts"]["total"] = len(lines)
        outputs, errors = [], []
        for index, line in enumerate(lines):
            with self.lock:
                ended = batch["status"] == "cancelling" or (self.stop_after is not None and index >= self.stop_after)
            if ended:
                code = "batch_cancelled" if batch["status"] == "cancelling" else f"batch_{self.end_status}"
                errors += [self._ended_line(rest, code) for rest in lines[index:]]
                break
            time.sleep(self.line_s)
            status, value = self.fake.chat_reply(line["body"])
            response = {"status_code": status, "request_id": f"req_{index}", "body": value}
            record = {"id": f"batch_req_{index}", "custom_id": line["custom_id"], "response": response, "error": None}
            with self.lock:
                (outputs if status == 200 else errors).append(record)
                counts = batch["request_counts"]
                counts["completed" if status == 200 else "failed"] += 1
                self.answered_lines += status == 200
        self._finish(batch, outputs, errors)

    def _ended_line(self, line: dict[str, Any], code: str) -> dict[str, Any]:
        message = "This request could not be executed before the batch ended."
        return {
            "id": None,
            "custom_id": line["custom_id"],
            "response": None,
            "error": {"code": code, "message": message},
        }

    def _finish(self, batch: dict[str, Any], outputs: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
        codes = {(line.get("error") or {}).get("code") for line in errors}
        if "batch_cancelled" in codes:
            final = "cancelled"
        elif f"batch_{self.end_status}" in codes:
            final = self.end_status
        else:
            final = "completed"
        with self.lock:
            batch["output_file_id"] = self._store_file(outputs, "output.jsonl") if outputs else None
            batch["error_file_id"] = self._store_file(errors, "errors.jsonl") if errors else None
            batch["status"] = final
            batch[f"{final}_at"] = int(time.time())
