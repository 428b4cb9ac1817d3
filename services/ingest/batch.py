"""Turn a decoded request body into per-record verdicts (pure: no I/O)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.core.records import Record, Rejection, ValidationContext, validate_record


@dataclass(slots=True)
class BatchVerdict:
    accepted: list[tuple[int, Record]] = field(default_factory=list)
    rejected: list[tuple[int, Any, Rejection]] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        """The answer contract: counts, then one result per record in request order."""
        results: list[dict[str, Any]] = [{"index": i, "status": "accepted"} for i, _ in self.accepted]
        results += [
            {"index": i, "status": "rejected", "errors": [e.as_dict() for e in rej.errors]}
            for i, _, rej in self.rejected
        ]
        results.sort(key=lambda r: r["index"])
        return {"accepted": len(self.accepted), "rejected": len(self.rejected), "results": results}


def judge(body: Any, ctx: ValidationContext) -> BatchVerdict:
    """One JSON object or an array of them; every record is judged on its own."""
    records = body if isinstance(body, list) else [body]
    verdict = BatchVerdict()
    for index, raw in enumerate(records):
        outcome = validate_record(raw, ctx)
        if isinstance(outcome, Rejection):
            verdict.rejected.append((index, raw, outcome))
        else:
            verdict.accepted.append((index, outcome))
    return verdict
