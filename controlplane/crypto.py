"""Secrets at rest (kubeconfigs, later cloud credentials): Fernet, keyed from the environment.

`CONTROLPLANE_SECRET_KEY` may hold a Fernet key (urlsafe base64 of 32 bytes) or any passphrase;
when it is empty the key is derived from Django's SECRET_KEY, so the embedded default needs no
configuration. Changing the key makes stored secrets unreadable: they must be uploaded again."""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted with another key or is damaged."""


def _fernet() -> Fernet:
    material = settings.CONTROLPLANE_SECRET_KEY or settings.SECRET_KEY
    try:
        return Fernet(material.encode())
    except ValueError:  # a passphrase rather than a Fernet key: stretch it to 32 bytes
        digest = hashlib.sha256(b"controlplane-secrets:" + material.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


def encrypt_secret(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "The stored secret cannot be decrypted with the current CONTROLPLANE_SECRET_KEY; upload it again."
        ) from exc
