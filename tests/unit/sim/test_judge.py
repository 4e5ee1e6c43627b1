"""The judge's report body: exactly what `json.dumps` would write, for any origin and headers,
whether written from a report or answered from request headers; and parsed heads shared
between callers without one seeing what another changed."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.pool.judge import JudgeReport, judge_report
from proxyfleet.sim.judge import JUDGE_PATH, Judge, parse_request_head, report_json, response


@given(st.text(), st.dictionaries(st.text(), st.text()))
def test_the_report_body_is_what_json_dumps_writes(origin: str, headers: dict[str, str]) -> None:
    report = JudgeReport(origin=origin, headers=headers)
    assert report_json(report) == json.dumps(report).encode()


@given(st.text(), st.lists(st.tuples(st.text(), st.text())))
def test_the_judge_answers_with_the_report_json_dumps_writes(
    origin: str, headers: list[tuple[str, str]]
) -> None:
    answer = Judge().answer("GET", JUDGE_PATH, origin, headers)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert body == json.dumps(judge_report(origin, headers)).encode()
    assert head == response(200, "OK", body, "application/json").partition(b"\r\n\r\n")[0]


def test_each_caller_gets_its_own_list_of_headers() -> None:
    head = b"GET /judge HTTP/1.1\r\nHost: j"
    parse_request_head(head)[2].append(("X-Mine", "changed"))
    assert parse_request_head(head) == ("GET", "/judge", [("Host", "j")])
