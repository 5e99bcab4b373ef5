"""Credential material: generation, hashing, and encryption at rest under the master key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

API_KEY_PREFIX = "ok-"


def hash_api_key(api_key: str) -> str:
    # API keys are 256-bit random strings, so an unsalted fast hash resists guessing fine.
    return hashlib.sha256(api_key.encode()).hexdigest()


def api_key_hint(api_key: str) -> str:
    """A short, non-secret identifier shown by `keys list` (prefix + last characters)."""
    return f"{api_key[:3]}...{api_key[-6:]}"


@dataclass(frozen=True)
class NewCredential:
    api_key: str
    access_key: str
    secret_key: str


def generate_credential() -> NewCredential:
    return NewCredential(
        api_key=API_KEY_PREFIX + secrets.token_urlsafe(32),
        access_key="AK" + secrets.token_hex(15).upper(),
        secret_key=secrets.token_urlsafe(32),
    )


def generate_callback_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class MasterKey:
    """Derives the keys the server needs from one secret: encryption and URL signing."""

    def __init__(self, secret: str) -> None:
        raw = secret.encode()
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(raw, b"openkling/encrypt")))
        self.signing_key = _derive(raw, b"openkling/sign-urls")

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "stored secret cannot be decrypted: was OPENKLING_SECRET_KEY changed?"
            ) from exc

    @classmethod
    def load(cls, configured: str | None, data_dir: Path) -> MasterKey:
        """The configured secret, else one kept in <data_dir>/secret.key (created 0600)."""
        if configured:
            return cls(configured)
        path = data_dir / "secret.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                with open(path, "x", opener=lambda p, f: _open_private(p, f)) as fh:
                    fh.write(secrets.token_urlsafe(48))
            except FileExistsError:
                pass  # another process created it first
        return cls(path.read_text().strip())


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, purpose, hashlib.sha256).digest()


def _open_private(path: str, flags: int) -> int:
    import os

    return os.open(path, flags, 0o600)
