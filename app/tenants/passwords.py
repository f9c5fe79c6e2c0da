"""Argon2id password hashing (the PasswordHasher port's real adapter)."""

from __future__ import annotations

import argon2

from app.tenants.ports import PasswordHasher


class Argon2Hasher(PasswordHasher):
    def __init__(self, *, fast: bool = False) -> None:
        # `fast` lowers the cost for test suites and benchmarks only; never in production.
        self._hasher = (
            argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
            if fast
            else argon2.PasswordHasher()
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False
