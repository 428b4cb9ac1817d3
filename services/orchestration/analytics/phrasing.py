"""Optional phrasing of a recommendation by an LLM behind an OpenAI-compatible chat-completions
endpoint (README, "Recommendations"), off unless TICKFLOW_RECOMMENDATION_LLM_URL is set.

The model is given the facts (JSON) and the template's text, and asked to say the same in plain
words with no number that is not among the facts. Its answer is used only when it is non-empty,
at most `MAX_CHARS` long and every number in it is among the facts
(`services.core.recommendation.unsupported_numbers`); on any failure (timeout, connection or HTTP
error, an answer not in the chat-completions shape, an empty or too long answer, a number not among
the facts) the template's text is used and the reason is kept. The key is sent as a bearer token
and never logged. One POST with httpx (already a dependency): the official `openai` SDK would add
about 10 MB and a second HTTP stack (httpx2, httpcore2) for this one call.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Mapping

import httpx
from pydantic import SecretStr

from services.core.recommendation import unsupported_numbers

log = logging.getLogger(__name__)

MAX_CHARS = 1500
TEMPLATE, LLM = "template", "llm"
INSTRUCTIONS = (
    "You rewrite a short market note for a private investor in plain, calm words, in at most six sentences. "
    "Use only the facts in the JSON you are given; keep what the draft says about how much weight the evidence "
    "deserves. Write no number, date or time that is not written in the facts, and compute nothing new (no "
    "differences, no percentages of your own). Give no advice beyond what the facts support. Answer with the "
    "note alone.")


@dataclass(frozen=True)
class Phrased:
    text: str
    phrasing: str  # TEMPLATE or LLM
    fallback_reason: str | None = None  # why the LLM's answer was not used (None: used, or the LLM is off)


@dataclass(frozen=True)
class LLMEndpoint:
    url: str  # the API's base URL, e.g. https://host/v1 (chat completions at URL/chat/completions)
    model: str
    key: SecretStr | None = None
    timeout_s: float = 20.0


def messages(facts: Mapping[str, Any], template: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": f"Facts (JSON):\n{json.dumps(facts, sort_keys=True)}\n\nDraft:\n{template}"}]


def ask(client: httpx.Client, endpoint: LLMEndpoint, facts: Mapping[str, Any], template: str) -> str:
    """The model's answer (raises httpx errors, or ValueError for an answer not in the chat-completions shape)."""
    headers = {"Authorization": f"Bearer {endpoint.key.get_secret_value()}"} if endpoint.key else {}
    answer = client.post(f"{endpoint.url.rstrip('/')}/chat/completions", headers=headers, timeout=endpoint.timeout_s,
                         json={"model": endpoint.model, "temperature": 0, "messages": messages(facts, template)})
    answer.raise_for_status()
    try:
        content = answer.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ValueError("the answer is not in the chat-completions format") from exc
    if not isinstance(content, str):
        raise ValueError("the answer is not in the chat-completions format")
    return content.strip()


def phrase(client: httpx.Client | None, endpoint: LLMEndpoint | None, facts: Mapping[str, Any],
           template: str) -> Phrased:
    """The LLM's phrasing if it passes the checks (module docstring), else the template's text with the reason."""
    if client is None or endpoint is None:
        return Phrased(template, TEMPLATE)
    try:
        text = ask(client, endpoint, facts, template)
    except httpx.TimeoutException:
        return _fallback(template, f"no answer within {endpoint.timeout_s:g} s")
    except httpx.HTTPStatusError as exc:
        return _fallback(template, f"HTTP {exc.response.status_code}")
    except httpx.HTTPError as exc:
        return _fallback(template, f"request failed: {type(exc).__name__}")
    except ValueError as exc:
        return _fallback(template, str(exc))
    if not text:
        return _fallback(template, "empty answer")
    if len(text) > MAX_CHARS:
        return _fallback(template, f"answer longer than {MAX_CHARS} characters")
    invented = unsupported_numbers(text, facts)
    if invented:
        return _fallback(template, f"numbers not among the facts: {', '.join(invented[:10])}")
    return Phrased(text, LLM)


def _fallback(template: str, reason: str) -> Phrased:
    log.warning("LLM phrasing not used: %s; the template's text is kept", reason)
    return Phrased(template, TEMPLATE, reason)
