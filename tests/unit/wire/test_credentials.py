import pytest

from proxyfleet.wire.credentials import BadCredentials, Credentials, decode_basic, encode_basic


def test_basic_round_trip_keeps_colons_in_the_password() -> None:
    credentials = Credentials("alice", "p:ss wörd")
    assert decode_basic(encode_basic(credentials)) == credentials


def test_encodes_the_rfc_7617_example() -> None:
    expected = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert encode_basic(Credentials("Aladdin", "open sesame")) == expected


def test_other_schemes_give_none() -> None:
    assert decode_basic("Bearer abc") is None


@pytest.mark.parametrize("value", ["Basic !!!", "Basic YWxpY2U=", "Basic /w=="])
def test_malformed_basic_is_refused(value: str) -> None:
    with pytest.raises(BadCredentials):
        decode_basic(value)


def test_password_is_not_in_the_repr() -> None:
    assert "secret" not in repr(Credentials("u", "secret"))
