"""argon2id for passwords and PINs; bcrypt hashes from older systems still verify.

Hashing is CPU- and memory-bound, so it runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    """Built on first use from settings (tests lower the cost: the suite hashes a lot)."""
    from fynlo.config import get_settings

    settings = get_settings()
    return PasswordHash(
        (
            Argon2Hasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_kib,
                parallelism=1,
            ),
            BcryptHasher(),
        )
    )


def hash_secret_sync(secret: str) -> str:
    return _hasher().hash(secret)


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(_hasher().hash, secret)


async def verify_secret(secret: str, hashed: str) -> tuple[bool, str | None]:
    """Check ``secret``; the second value is a new hash when the stored one is outdated."""
    return await asyncio.to_thread(_hasher().verify_and_update, secret, hashed)


# A real hash to verify against when the account does not exist, so that the answer
# takes as long for an unknown e-mail as for a wrong password.
@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_secret_sync("fynlo-timing-equaliser")


async def verify_dummy(secret: str) -> None:
    await asyncio.to_thread(_hasher().verify, secret, _dummy_hash())
