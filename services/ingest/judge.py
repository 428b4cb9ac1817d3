"""Turn a decoded request body into per-record verdicts (pure: no I/O)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.core.records import Record, Rejection, ValidationContext, validate_record

MAX_ERRORS_PER_RECORD = 5  # the answer stays proportional to the request, whatever a record holds
MAX_DEPTH = 32  # records are flat objects; a body nested deeper is not a batch of records


def nesting_exceeds(body: Any, limit: int = MAX_DEPTH) -> bool:
    """Is `body` (decoded JSON) nested more than `limit` levels deep? Iterative: no recursion limit."""
    level = [body]
    for _ in range(limit):
        level = [child for node in level if isinstance(node, (list, dict))
                 for child in (node.values() if isinstance(node, dict) else node)]
        if not any(isinstance(node, (list, dict)) for node in level):
            return False
    return True


@dataclass(slots=True)
class BatchVerdict:
    accepted: list[tuple[int, Record]] = field(default_factory=list)
    rejected: list[tuple[int, Any, Rejection]] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        """The answer contract: counts, then one result per record in request order."""
        results: list[dict[str, Any]] = [{"index": i, "status": "accepted"} for i, _ in self.accepted]
        results += [_rejected_result(i, rej) for i, _, rej in self.rejected]
        results.sort(key=lambda r: r["index"])
        return {"accepted": len(self.accepted), "rejected": len(self.rejected), "results": results}


def _rejected_result(index: int, rejection: Rejection) -> dict[str, Any]:
    result: dict[str, Any] = {"index": index, "status": "rejected",
                              "errors": [e.as_dict() for e in rejection.errors[:MAX_ERRORS_PER_RECORD]]}
    if len(rejection.errors) > MAX_ERRORS_PER_RECORD:
        result["more_errors"] = len(rejection.errors) - MAX_ERRORS_PER_RECORD
    return result


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
