"""The LLM phrasing of a recommendation (services/orchestration/analytics/phrasing.py) against a local FAKE
OpenAI-compatible endpoint (tests/fake_llm.py; no model service runs here): a good answer is used,
an invented number, an HTTP error, a timeout, an empty or malformed answer fall back to the template
with the reason; the key goes as a bearer token and never into the log."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fake_llm import SLOW, FakeLLM
from pydantic import SecretStr

from services.core.recommendation import Evidence, Policy, facts_of, template_text
from services.orchestration.analytics.phrasing import INSTRUCTIONS, LLMEndpoint, phrase
from services.orchestration.settings import OrchestrationSettings

END = datetime(2024, 5, 1, tzinfo=timezone.utc)
BAR = {"symbol": "AAPL", "timeframe": "1h", "ts": END - timedelta(hours=1), "close": 190.4567, "sma": 189.9,
       "ema_fast": 190.1, "ema_slow": 189.7, "rsi": 55.55, "macd": 0.12, "macd_signal": 0.1, "bb_upper": 192.0,
       "bb_lower": 188.0}
FACTS = facts_of(Evidence("AAPL", "1h", END, BAR), Policy())
TEMPLATE = template_text(FACTS)
KEY = "sk-fake-0123456789"


def run(answer, timeout_s: float = 5.0):
    with FakeLLM(answer) as fake, httpx.Client() as client:
        endpoint = LLMEndpoint(fake.url, "fake-model", SecretStr(KEY), timeout_s)
        return phrase(client, endpoint, FACTS, TEMPLATE), fake.requests


def test_a_good_answer_is_used_and_gets_the_facts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    phrased, requests = run(lambda facts, draft: (200, f"  AAPL closed at 190.46 ({facts['indicators']['date']}); "
                                                       f"weight: {facts['summary']['weight']}.\n"))
    assert (phrased.phrasing, phrased.fallback_reason) == ("llm", None)
    assert phrased.text == "AAPL closed at 190.46 (2024-04-30 23:00 UTC); weight: little."
    [request] = requests
    assert request["path"] == "/v1/chat/completions" and request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "fake-model" and request["body"]["messages"][0]["content"] == INSTRUCTIONS
    assert KEY not in caplog.text


@pytest.mark.parametrize(("answer", "reason"), [
    (lambda facts, draft: (200, "AAPL should gain 12.5% by 2024-05-08."),
     "numbers not among the facts: 12.5, 2024-05-08"),
    (lambda facts, draft: (500, None), "HTTP 500"),
    (lambda facts, draft: (200, "   "), "empty answer"),
    (lambda facts, draft: (200, None), "the answer is not in the chat-completions format"),
    (lambda facts, draft: (200, "weight " * 300), "answer longer than 1500 characters"),
])
def test_a_bad_answer_falls_back_to_the_template(answer, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    phrased, requests = run(answer)
    assert (phrased.text, phrased.phrasing, phrased.fallback_reason) == (TEMPLATE, "template", reason)
    assert len(requests) == 1
    assert f"LLM phrasing not used: {reason}" in caplog.text and KEY not in caplog.text


def test_no_answer_in_time_or_no_server_falls_back() -> None:
    phrased, _ = run(lambda facts, draft: (SLOW, None), timeout_s=0.5)
    assert (phrased.text, phrased.phrasing, phrased.fallback_reason) == (TEMPLATE, "template", "no answer within 0.5 s")
    with FakeLLM() as fake:
        url = fake.url  # a port nothing listens on once the fake has stopped
    with httpx.Client() as client:
        gone = phrase(client, LLMEndpoint(url, "fake-model"), FACTS, TEMPLATE)
    assert (gone.phrasing, gone.fallback_reason) == ("template", "request failed: ConnectError")
    assert phrase(None, None, FACTS, TEMPLATE) == phrase(client, None, FACTS, TEMPLATE)  # off: the template, no reason
    assert phrase(None, None, FACTS, TEMPLATE).fallback_reason is None


def test_settings_keep_the_key_secret_and_want_a_model_with_the_url() -> None:
    settings = OrchestrationSettings(recommendation_llm_url="http://127.0.0.1:1/v1", recommendation_llm_model="m",
                                     recommendation_llm_key=KEY)
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    assert OrchestrationSettings().recommendation_llm_url == ""  # off by default
    with pytest.raises(ValueError, match="TICKFLOW_RECOMMENDATION_LLM_MODEL must name the model"):
        OrchestrationSettings(recommendation_llm_url="http://127.0.0.1:1/v1")
