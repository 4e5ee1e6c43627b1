"""Secrets at rest: the one way proxyfleet seals a secret before it is stored (proxy
passwords, session cookies, provider tokens, notifier secrets) and opens it again.

`SecretBox` is Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) under a key
derived from the secret key by HKDF, so the secret key itself is never the cipher key. Earlier
secret keys can be given too: tokens sealed under any of them still open, new ones are sealed
under the current key, and `reseal` moves a token to it (key rotation). `digest` is a keyed
hash for finding or de-duplicating a sealed value (Fernet tokens are random, so a unique
index on the token would not catch a repeated secret).

The box is built once by the composition root and handed to repositories by the unit of work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEAL_INFO = b"proxyfleet sealing v1"
_DIGEST_INFO = b"proxyfleet digest v1"
# Every Fernet token starts with its version byte 0x80, base64-encoded: "gAAAAA".
_TOKEN_PREFIX = "gAAAAA"


class SealBroken(ValueError):
    """A stored token that no known key opens (tampered, or sealed under a forgotten key)."""


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


class SecretBox:
    def __init__(self, secret: bytes, previous: Sequence[bytes] = ()) -> None:
        keys = [Fernet(base64.urlsafe_b64encode(_derive(key, _SEAL_INFO)))
                for key in (secret, *previous)]
        self._fernet = MultiFernet(keys)
        self._digest_key = _derive(secret, _DIGEST_INFO)

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise SealBroken("a stored secret could not be opened with any known key") from exc

    def reseal(self, token: str) -> str:
        """The same secret sealed under the current key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise SealBroken("a stored secret could not be opened with any known key") from exc

    def seal_optional(self, plain: str | None) -> str | None:
        return None if plain is None else self.seal(plain)

    def open_optional(self, token: str | None) -> str | None:
        return None if token is None else self.open(token)

    def digest(self, plain: str) -> str:
        """HMAC-SHA256 of the value under a key of its own, hex: equal values, equal digests."""
        return hmac.new(self._digest_key, plain.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def looks_sealed(value: str) -> bool:
        """Whether a stored value is a token rather than plain text left from before sealing."""
        return value.startswith(_TOKEN_PREFIX)
