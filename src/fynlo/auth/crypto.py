"""Secrets at rest (2FA seeds) encrypted with a key derived from FYNLO_DATA_ENCRYPTION_KEY."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet


def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(b"fynlo-data-encryption:" + key_material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(key_material: str, plaintext: str) -> str:
    return _fernet(key_material).encrypt(plaintext.encode()).decode()


def decrypt(key_material: str, ciphertext: str) -> str:
    return _fernet(key_material).decrypt(ciphertext.encode()).decode()


def sha256_hex(value: str) -> str:
    """For high-entropy single-use secrets (reset links, recovery codes, device tokens)."""
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
