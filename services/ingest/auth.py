"""Bearer-token check for writes. Constant-time comparison; tokens never appear in logs."""
from __future__ import annotations

import hmac
from collections.abc import Iterable

from pydantic import SecretStr


class TokenCheck:
    def __init__(self, tokens: Iterable[SecretStr]) -> None:
        self._tokens = [t.get_secret_value().encode() for t in tokens]

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def problem(self, authorization: str | None) -> str | None:
        """None if the request may write; otherwise what is wrong with its credentials."""
        if not self._tokens:
            return None
        if not authorization:
            return "missing Authorization header: send 'Authorization: Bearer <token>'"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "Authorization must use the Bearer scheme"
        offered = token.strip().encode()
        # Compare against every token without stopping early: timing reveals nothing.
        matched = False
        for known in self._tokens:
            matched |= hmac.compare_digest(offered, known)
        return None if matched else "invalid token"
