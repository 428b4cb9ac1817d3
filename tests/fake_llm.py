"""A FAKE OpenAI-compatible chat-completions endpoint for the tests (not a test).

It is a fake because no model service runs here (no network but the package registries). It
speaks the wire format services/orchestration/analytics/phrasing.py uses: POST <base>/chat/completions with
{"model", "messages"} and an answer {"choices": [{"message": {"content"}}]}. What it answers is
decided per request by `answer(facts, draft) -> (status, content)`, from the facts (JSON) and the
draft the client sent; every request is kept in `requests` (path, headers, body).
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Answer = Callable[[dict[str, Any], str], tuple[int, str | None]]
SLOW = 599  # status meaning: do not answer until the server stops (the client's timeout must end the wait)


def parse_prompt(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(facts, draft) from the user message phrasing.messages() writes."""
    user = body["messages"][-1]["content"]
    m = re.fullmatch(r"Facts \(JSON\):\n(.*)\n\nDraft:\n(.*)", user, re.DOTALL)
    assert m, user[:300]
    return json.loads(m.group(1)), m.group(2)


def plain_words(facts: dict[str, Any], draft: str) -> tuple[int, str]:
    """A good answer: a shorter text whose numbers are all among the facts."""
    bar = facts["indicators"]
    return 200, (f"In plain words: {facts['symbol']} closed at {bar['close']} on {bar['date']}. "
                 f"The evidence deserves {facts['summary']['weight']} weight.")


class FakeLLM:
    def __init__(self, answer: Answer = plain_words) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, content = fake.answer(*parse_prompt(body))
                if status == SLOW:
                    fake.stopping.wait(30)
                    return
                payload = {"id": "fake", "object": "chat.completion", "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": content}}]}
                raw = json.dumps(payload if status == 200 else {"error": {"message": "fake failure"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "FakeLLM":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
