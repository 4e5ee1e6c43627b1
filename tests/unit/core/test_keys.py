from proxyfleet.core.keys import display_prefix, key_digest, looks_like_key, new_raw_key


def test_new_keys_have_the_documented_format() -> None:
    keys = {new_raw_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("pp_")
        assert len(key) == 3 + 48
        assert looks_like_key(key)


def test_malformed_keys_are_recognised_without_a_lookup() -> None:
    good = new_raw_key()
    for bad in ["", "pp_", good[:-1], good + "a", "xx" + good[2:], good.upper(), good[:-1] + "!"]:
        assert not looks_like_key(bad)


def test_digest_depends_on_the_secret_and_hides_the_key() -> None:
    key = new_raw_key()
    first, second = key_digest(key, b"one"), key_digest(key, b"two")
    assert first != second
    assert key not in first
    assert key_digest(key, b"one") == first


def test_display_prefix_is_what_the_reference_shows() -> None:
    assert display_prefix("pp_a1b2c3d4e5") == "pp_a1b2c"
