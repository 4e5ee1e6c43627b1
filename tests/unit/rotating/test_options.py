"""The gateway username's options: every documented form parses, any combination in any
order round-trips, and malformed usernames are refused with the option named."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.core.proxies import Anonymity, ProxyProtocol
from proxyfleet.rotating.options import (
    DEFAULT_SESSION_MINUTES,
    BadOptions,
    Egress,
    ExitOptions,
    format_username,
    parse_username,
)


@pytest.mark.parametrize(("username", "expected"), [
    ("user", ExitOptions("user")),
    ("user-country-us", ExitOptions("user", country="US")),
    ("user-session-abc123", ExitOptions("user", session="abc123")),
    ("user-session-abc123-sesstime-30",
     ExitOptions("user", session="abc123", session_minutes=30)),
    ("user-anonymity-elite", ExitOptions("user", anonymity=Anonymity.ELITE)),
    ("user-protocol-socks5", ExitOptions("user", protocol=ProxyProtocol.SOCKS5)),
    ("user-minscore-0.8", ExitOptions("user", min_score=0.8)),
    ("user-session-s1-hard", ExitOptions("user", session="s1", hard=True)),
    ("user-exit-ipv6", ExitOptions("user", egress=Egress.IPV6)),
    ("my_team-Country-DE-PROTOCOL-HTTP", ExitOptions("my_team", country="DE",
                                                     protocol=ProxyProtocol.HTTP)),
    ("user-order-ORD-12345", ExitOptions("user", order=12345)),
    ("user-order-12345", ExitOptions("user", order=12345)),
    ("user-ORDER-ord-7", ExitOptions("user", order=7)),
    ("user-minscore-1-anonymity-anonymous-country-fr-session-x_y-sesstime-1440-hard",
     ExitOptions("user", country="FR", session="x_y", session_minutes=1440,
                 anonymity=Anonymity.ANONYMOUS, min_score=1.0, hard=True)),
])
def test_documented_forms(username: str, expected: ExitOptions) -> None:
    assert parse_username(username) == expected


def test_a_session_keeps_its_exit_ten_minutes_unless_told() -> None:
    assert parse_username("u-session-a").sticky_seconds == DEFAULT_SESSION_MINUTES * 60
    assert parse_username("u-session-a-sesstime-3").sticky_seconds == 180


@pytest.mark.parametrize(("username", "option"), [
    ("user-colour-red", "colour"),
    ("user-country", "country"),
    ("user-country-", "country"),
    ("user-country-usa", "country"),
    ("user-country-u1", "country"),
    ("user-session-a b", "session"),
    ("user-session-" + "a" * 65, "session"),
    ("user-session-a-sesstime-0", "sesstime"),
    ("user-session-a-sesstime-1441", "sesstime"),
    ("user-session-a-sesstime-ten", "sesstime"),
    ("user-sesstime-5", "session"),
    ("user-hard", "session"),
    ("user-anonymity-invisible", "anonymity"),
    ("user-protocol-ftp", "protocol"),
    ("user-minscore-1.5", "minscore"),
    ("user-minscore-nan", "minscore"),
    ("user-minscore--0.1", "minscore"),
    ("user-minscore-1e3", "minscore"),
    ("user-exit-ipv4", "exit"),
    ("user-country-us-country-de", "country"),
    ("user-order", "order"),
    ("user-order-ORD", "order"),
    ("user-order-ORD-", "order"),
    ("user-order-ORD-12x", "order"),
    ("user-order-ABC", "order"),
    ("user-order-12-country-us", "order"),
    ("user-session-s-order-12", "order"),
    ("user-order-1-order-2", "order"),
])
def test_malformed_options_are_named(username: str, option: str) -> None:
    with pytest.raises(BadOptions) as caught:
        parse_username(username)
    assert option in str(caught.value.details) + caught.value.message


@pytest.mark.parametrize("username", ["", "-country-us", "country-us", "us er", "user--x",
                                      "my-team"])
def test_a_username_starts_with_a_name(username: str) -> None:
    with pytest.raises(BadOptions):
        parse_username(username)


names = st.from_regex(r"[A-Za-z0-9_.@+]{1,12}", fullmatch=True).filter(
    lambda name: name.lower() not in {"country", "session", "sesstime", "anonymity",
                                      "protocol", "minscore", "hard", "exit", "order"})
sessions = st.from_regex(r"[A-Za-z0-9_]{1,64}", fullmatch=True)


@st.composite
def options(draw: st.DrawFn) -> ExitOptions:
    session = draw(st.none() | sessions)
    return ExitOptions(
        user=draw(names),
        country=draw(st.none() | st.from_regex(r"[A-Z]{2}", fullmatch=True)),
        session=session,
        session_minutes=None if session is None else draw(st.none() | st.integers(1, 1440)),
        anonymity=draw(st.none() | st.sampled_from(Anonymity)),
        protocol=draw(st.none() | st.sampled_from(ProxyProtocol)),
        min_score=draw(st.none() | st.decimals(0, 1, places=6).map(float)),
        hard=session is not None and draw(st.booleans()),
        egress=draw(st.sampled_from(Egress)),
    )


@given(options())
def test_any_combination_round_trips(chosen: ExitOptions) -> None:
    assert parse_username(format_username(chosen)) == chosen


@given(names, st.integers(1, 10**18 - 1))
def test_an_order_round_trips_and_reads_as_the_shop_prints_it(name: str, number: int) -> None:
    chosen = ExitOptions(name, order=number)
    assert parse_username(format_username(chosen)) == chosen
    assert parse_username(f"{name}-order-ORD-{number}") == chosen


@given(options(), st.randoms())
def test_option_order_does_not_matter(chosen: ExitOptions, shuffler: object) -> None:
    # Split into (keyword, value) groups after the name, then shuffle the groups.
    tokens = format_username(chosen).split("-")[1:]
    groups: list[list[str]] = []
    while tokens:
        size = 1 if tokens[0] == "hard" else 2
        groups.append(tokens[:size])
        tokens = tokens[size:]
    shuffler.shuffle(groups)  # type: ignore[attr-defined]
    shuffled = "-".join([chosen.user, *("-".join(group) for group in groups)])
    assert parse_username(shuffled) == chosen


@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        parsed = parse_username(text)
    except BadOptions:
        return
    assert parse_username(format_username(parsed)) == parsed
