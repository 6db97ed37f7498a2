"""Fuzzing: schemathesis over the OpenAPI document, hypothesis over WebSocket messages.

Both against the daemon as a real process; both bounded (a few seconds each) so they run on
every commit. The property: never a 500, never a dropped connection, the daemon stays up.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micboardd.web.security import READ_ONLY_WS_COMMANDS

from ..conftest import DaemonFactory
from ..discovery.netns import run_in_netns
from ..helpers import DaemonProcess
from .admin import set_secret

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 10  # per operation: ~500 requests over the API in under 15 s
# Not fuzzed from the host's network: logout would end the fuzzer's own session; adding
# receivers at random addresses would open connections (and DNS lookups) beyond loopback.
# The admin run, receivers included, is in a private network namespace (below).
EXCLUDED = ("POST /api/logout", "POST /api/receivers")
# The admin run in the namespace: every check but "schema-valid data is accepted" (the API
# refuses, with a sentence, more than its schema can say: a group id out of range, a PIN
# that is not digits, an unknown field, a time range the wrong way round).
NETNS_ARGS = (
    *("--checks", "all", "--exclude-checks", "positive_data_acceptance"),
    *("--max-examples", "25", "--seed", "1"),
)


@pytest.mark.timeout(180)
async def test_schemathesis_finds_no_server_error(
    make_daemon: DaemonFactory, tmp_path: Path
) -> None:
    if not SCHEMATHESIS.exists():
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    d = make_daemon()
    await set_secret(d.state_dir)
    runs: dict[str, list[str]] = {"anonymous": []}
    for who, headers in runs.items():
        argv = [
            str(SCHEMATHESIS),
            "run",
            f"{d.url}/schema/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            "1",
            # One worker: hypothesis' lambda descriptions call ast.parse, which CPython 3.11
            # can break on when two threads do it at once ("AST constructor recursion").
            "--workers",
            "1",
        ]
        for header in headers:
            argv += ["--header", header]
        for name in EXCLUDED:
            argv += ["--exclude-name", name]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=tmp_path,  # its .hypothesis/ cache stays out of the repository
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 150)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, f"schemathesis as {who}:\n{text[-6000:]}"
        assert " passed" in text and "generated" in text, text[-2000:]
    assert d.proc is not None and d.proc.poll() is None
    assert "Traceback" not in d.log and "Internal Server Error" not in d.log, d.log[-4000:]


@pytest.mark.timeout(300)
def test_schemathesis_as_admin_adds_receivers_in_a_private_namespace() -> None:
    """The whole API with an admin session, `POST /api/receivers` included: the daemon and the
    fuzzer share a network namespace with only `lo`, so the receivers it invents are never
    contacted (tests/security/fuzz_netns.py). It found names IDNA cannot encode crashing the
    receiver's task (now refused with 400)."""
    proc = run_in_netns(
        [sys.executable, "-m", "tests.security.fuzz_netns", *NETNS_ARGS], timeout=240
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-8000:]
    assert "daemon alive after the run: True" in out, out[-2000:]
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", out)
    assert selected is not None, out[-2000:]
    chosen, everything, tested = (int(g) for g in selected.groups())
    assert everything - chosen == 1 and tested == chosen  # every operation but logout


# ------------------------------------------------------------------------------ WebSocket

KNOWN = sorted(READ_ONLY_WS_COMMANDS)
# Anything JSON can say, biased towards what our parser looks at.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
command_like = st.fixed_dictionaries(
    {"type": st.sampled_from([*KNOWN, "rename", "", "PING", "subscribe "])},
    optional={
        "format": st.one_of(st.sampled_from(["full", "compact", "x"]), json_values),
        "devices": st.one_of(st.lists(st.text(max_size=12), max_size=5), json_values),
        "group": json_values,
        "max_hz": st.one_of(st.floats(allow_nan=True, allow_infinity=True), json_values),
        "batch": json_values,
    },
)
messages = st.one_of(
    command_like.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),  # mostly not JSON at all
    st.binary(max_size=64),
)
ANSWERS = {"error", "initial_data", "device_update", "batch_update", "meters", "pong"}
# What an endpoint sends of its own accord, whatever a client says: /ws/health/ pushes the
# box's health every few seconds, and one may fall between a message and its answers.
PUSHED = {"system_health", "api_health", "connection_update"}


def parsed(message: str | bytes) -> Any:
    if isinstance(message, bytes):
        return None
    try:
        return json.loads(message)
    except ValueError:
        return None


def must_answer_error(message: str | bytes) -> bool:
    """A message the endpoint cannot act on: it must say so with an `error` frame."""
    msg = parsed(message)
    return not isinstance(msg, dict) or msg.get("type") not in READ_ONLY_WS_COMMANDS


async def exchange(url: str, batch: list[str | bytes]) -> None:
    async with websockets.connect(url, open_timeout=5) as ws:
        assert json.loads(await ws.recv())["type"] == "initial_data"
        for message in batch:
            await ws.send(message)
            await ws.send('{"type": "ping"}')  # its pong marks the end of the answers
            msg = parsed(message)
            pongs = 2 if isinstance(msg, dict) and msg.get("type") == "ping" else 1
            frames: list[dict[str, Any]] = []
            while pongs:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if isinstance(frame, dict) and frame.get("type") in PUSHED:
                    continue  # not an answer to anything
                assert isinstance(frame, dict) and frame.get("type") in ANSWERS, frame
                if frame["type"] == "pong":
                    pongs -= 1
                else:
                    frames.append(frame)
            if must_answer_error(message):
                assert any(f["type"] == "error" and f["error"] for f in frames), (message, frames)


@pytest.fixture
def ws_daemon(make_daemon: DaemonFactory) -> DaemonProcess:
    return make_daemon()


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(messages, min_size=1, max_size=8))
def test_websocket_messages_are_answered_and_survived(
    ws_daemon: DaemonProcess, batch: list[str | bytes]
) -> None:
    # One daemon for every example on purpose: it must survive all of them in a row.
    for path in ("/ws/devices/", "/ws/connections/", "/ws/health/"):
        asyncio.run(exchange(ws_daemon.ws_url + path, batch))
    assert ws_daemon.proc is not None and ws_daemon.proc.poll() is None
    assert ws_daemon.get("/healthz").status_code == 200


def test_oversized_websocket_message_is_an_error_not_a_drop(ws_daemon: DaemonProcess) -> None:
    big = json.dumps({"type": "subscribe", "devices": ["x" * 100] * 1000})  # ~100 KB

    async def go() -> None:
        async with websockets.connect(ws_daemon.ws_url + "/ws/devices/") as ws:
            await ws.recv()
            await ws.send(big)
            frame = json.loads(await ws.recv())
            assert frame["type"] == "error" and "too large" in frame["error"]
            await ws.send('{"type": "ping"}')
            assert json.loads(await ws.recv())["type"] == "pong"

    asyncio.run(go())
    assert "Traceback" not in ws_daemon.log
