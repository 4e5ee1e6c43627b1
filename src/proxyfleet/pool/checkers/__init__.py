"""The checking pipeline's checkers: what a checker is, the built-ins, their registry and the
pipeline that runs them.

`base` (the `Checker` protocol and its values), `errors`, `handshakes` (client handshake
bytes), `conversation` (a client's conversation as a sans-IO generator of steps), `link` and
`streams` (which drive one), `tunnels` and `judging` are the parts; `tcp`, `protocol` and
`geoip` are the built-in checkers, which register themselves on import; `registry` holds
them and finds outside ones through the `proxyfleet.checkers` entry point group; `pipeline`
runs them.
Importing this package imports the built-ins, so any registry built afterwards sees them.
"""

from proxyfleet.pool.checkers import geoip, protocol, tcp
from proxyfleet.pool.checkers.base import (
    CheckContext,
    Checker,
    CheckerPlugin,
    CheckOutcome,
    CheckRecord,
    Findings,
    Stage,
)
from proxyfleet.pool.checkers.errors import BadJudgeAnswer, HandshakeError, ProxyAuthRejected
from proxyfleet.pool.checkers.judging import own_public_ip
from proxyfleet.pool.checkers.pipeline import Pipeline, PipelineResult
from proxyfleet.pool.checkers.registry import (
    ENTRY_POINT_GROUP,
    CheckerDescription,
    CheckerRegistry,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BadJudgeAnswer",
    "CheckContext",
    "CheckOutcome",
    "CheckRecord",
    "Checker",
    "CheckerDescription",
    "CheckerPlugin",
    "CheckerRegistry",
    "Findings",
    "HandshakeError",
    "Pipeline",
    "PipelineResult",
    "ProxyAuthRejected",
    "Stage",
    "geoip",
    "own_public_ip",
    "protocol",
    "tcp",
]
