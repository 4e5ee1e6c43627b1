"""API key format: `pp_` + 48 random characters from an unambiguous alphabet."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

KEY_PREFIX = "pp_"
KEY_BODY_LENGTH = 48
DISPLAY_PREFIX_LENGTH = 8  # "pp_" + 5 characters, as the reference shows ("pp_a1b2c")
_ALPHABET = string.ascii_lowercase + string.digits
# A whole key in one match (the gateway checks one per connection).
_KEY = re.compile(f"{re.escape(KEY_PREFIX)}[{_ALPHABET}]{{{KEY_BODY_LENGTH}}}")


def new_raw_key() -> str:
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def looks_like_key(candidate: str) -> bool:
    return _KEY.fullmatch(candidate) is not None


def display_prefix(raw: str) -> str:
    return raw[:DISPLAY_PREFIX_LENGTH]


def key_digest(raw: str, secret: bytes) -> str:
    """Keyed hash stored instead of the key: a leaked table alone cannot be brute-forced."""
    return hmac.new(secret, raw.encode(), hashlib.sha256).hexdigest()
