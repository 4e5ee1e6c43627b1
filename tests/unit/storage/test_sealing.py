"""Secrets at rest: what a sealed value hides, and how keys rotate."""

import pytest

from proxyfleet.storage.sealing import SealBroken, SecretBox

SECRET = b"current-secret-key-for-tests"
OLD = b"an-earlier-secret-key"


def test_a_sealed_value_opens_to_itself_and_hides_it() -> None:
    box = SecretBox(SECRET)
    token = box.seal("hunter2-password")
    assert "hunter2" not in token
    assert SecretBox.looks_sealed(token)
    assert not SecretBox.looks_sealed("hunter2-password")
    assert box.open(token) == "hunter2-password"


def test_the_same_value_seals_differently_each_time_but_digests_the_same() -> None:
    box = SecretBox(SECRET)
    assert box.seal("cookie") != box.seal("cookie")
    assert box.digest("cookie") == box.digest("cookie")
    assert box.digest("cookie") != box.digest("cookie2")
    assert SecretBox(OLD).digest("cookie") != box.digest("cookie")


def test_a_rotated_key_still_opens_what_the_earlier_key_sealed() -> None:
    old_token = SecretBox(OLD).seal("s3cret")
    rotated = SecretBox(SECRET, [OLD])
    assert rotated.open(old_token) == "s3cret"
    moved = rotated.reseal(old_token)
    assert SecretBox(SECRET).open(moved) == "s3cret"
    with pytest.raises(SealBroken):
        SecretBox(SECRET).open(old_token)


def test_a_tampered_token_is_refused() -> None:
    box = SecretBox(SECRET)
    token = box.seal("value")
    tampered = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    with pytest.raises(SealBroken):
        box.open(tampered)
    with pytest.raises(SealBroken):
        box.open("not a token at all")


def test_optional_values_pass_none_through() -> None:
    box = SecretBox(SECRET)
    assert box.seal_optional(None) is None
    assert box.open_optional(None) is None
    assert box.open_optional(box.seal_optional("x")) == "x"
