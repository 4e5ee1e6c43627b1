"""The judge's report body: exactly what `json.dumps` would write, for any origin and headers."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from proxyfleet.pool.judge import JudgeReport
from proxyfleet.sim.judge import report_json


@given(st.text(), st.dictionaries(st.text(), st.text()))
def test_the_report_body_is_what_json_dumps_writes(origin: str, headers: dict[str, str]) -> None:
    report = JudgeReport(origin=origin, headers=headers)
    assert report_json(report) == json.dumps(report).encode()
