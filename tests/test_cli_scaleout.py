"""`callwatch collect` and `callwatch worker` as processes, against the real Mosquitto.

A worker subscribes; a collector replays fixture captures and publishes; the worker's store
then exports exactly what `callwatch ingest` prints for the same files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = [str(ROOT / "sip_fixtures" / f) for f in ("busy.pcap", "transfer_slow.pcap")]
CLI = [sys.executable, "-m", "callwatch.cli"]


def broker_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", 1883)) == 0


pytestmark = pytest.mark.skipif(not broker_up(), reason="no MQTT broker on 127.0.0.1:1883")


def calls_in(db: Path) -> int:
    """How many calls the worker's SQLite store holds so far, read in this process (a cheap
    look while waiting; what a test compares comes from ``callwatch export``)."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return conn.execute("SELECT count(*) FROM calls").fetchone()[0]
    except sqlite3.OperationalError:  # no schema yet, or the worker holds the write lock
        return 0


def test_collector_and_worker_store_what_ingest_prints(tmp_path):
    site_name = f"cli-scaleout-{uuid.uuid4().hex[:8]}"
    text = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text(text.replace('name = "naju-cityhall"', f'name = "{site_name}"'), "utf-8")
    db = tmp_path / "worker.sqlite"
    env = dict(
        os.environ,
        CALLWATCH_MQTT_URL="mqtt://127.0.0.1:1883",
        CALLWATCH_DATABASE_URL=f"sqlite:///{db}",
        CALLWATCH_DATA_DIR=str(tmp_path / "data"),
    )
    worker = subprocess.Popen(
        [
            *(*CLI, "-v", "worker", "--config", str(site), "--identifier", f"w-{site_name}"),
            *("--session-expiry", "60"),  # the last of its group: its session is kept on stop
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in worker.stderr:  # wait until the shared subscription exists
            if "worker subscribed" in line:
                break
        collect = subprocess.run(
            [*CLI, "collect", "--config", str(site), "--identifier", f"c-{site_name}", *FILES],
            env=dict(env, CALLWATCH_DATA_DIR=str(tmp_path / "collector")),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert collect.returncode == 0, collect.stderr
        expected = subprocess.run(
            [*CLI, "ingest", "--config", str(site), *FILES],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        deadline = time.monotonic() + 60  # the worker batches; give it a moment to write
        while calls_in(db) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        stored = subprocess.run(
            [*CLI, "export", "--config", str(site), "--format", "jsonl"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert [json.loads(x) for x in stored] == [json.loads(x) for x in expected]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert worker.returncode == 0


# -- scaling down: a worker stopped or killed strands nothing ------------------------------

MORE_FILES = [
    str(ROOT / "sip_fixtures" / f)
    for f in (
        "busy.pcap",
        "transfer_slow.pcap",
        "answered_1st_ring.pcap",
        "answered_3rd_ring.pcap",
        "caller_cancels.pcap",
        "internal_call.pcap",
        "outbound_call.pcap",
        "ring_timeout.pcap",
    )
]


class Site:
    """A site file, a SQLite store and worker processes of one group, for one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.name = f"cli-scaledown-{uuid.uuid4().hex[:8]}"
        text = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")
        self.config = tmp_path / "site.toml"
        self.config.write_text(
            text.replace('name = "naju-cityhall"', f'name = "{self.name}"'), "utf-8"
        )
        self.tmp_path = tmp_path
        self.env = dict(
            os.environ,
            CALLWATCH_MQTT_URL="mqtt://127.0.0.1:1883",
            CALLWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'worker.sqlite'}",
        )
        self.workers: dict[str, subprocess.Popen] = {}

    def ident(self, name: str) -> str:
        return f"w-{self.name}-{name}"

    def start(self, name: str, *options: str) -> subprocess.Popen:
        env = dict(self.env, CALLWATCH_DATA_DIR=str(self.tmp_path / f"data-{name}"))
        worker = subprocess.Popen(
            [
                *CLI,
                *("-v", "worker", "--config", str(self.config), "--identifier", self.ident(name)),
                *("--session-expiry", "300", *options),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.workers[name] = worker
        for line in worker.stderr:  # wait until the shared subscription exists
            if "worker subscribed" in line:
                break
        return worker

    def cli(self, *args: str, data: str = "tool") -> subprocess.CompletedProcess:
        env = dict(self.env, CALLWATCH_DATA_DIR=str(self.tmp_path / data))
        return subprocess.run(
            [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=True
        )

    def collect(self, files: list[str]) -> None:
        self.cli("collect", "--config", str(self.config), "--identifier", f"c-{self.name}", *files)

    def expected(self, files: list[str]) -> list[dict]:
        out = self.cli("ingest", "--config", str(self.config), *files).stdout
        return [json.loads(x) for x in out.splitlines()]

    def stored(self) -> list[dict]:
        out = self.cli("export", "--config", str(self.config), "--format", "jsonl").stdout
        return [json.loads(x) for x in out.splitlines()]

    def wait_stored(self, count: int, seconds: float = 30) -> list[dict]:
        """What ``callwatch export`` prints once ``count`` calls are stored, or after
        ``seconds``."""
        deadline = time.monotonic() + seconds
        while calls_in(self.tmp_path / "worker.sqlite") < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.stored()

    def stop(self, name: str) -> str:
        """SIGTERM a worker; its log after the start."""
        worker = self.workers[name]
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        return err

    def adopt(self, name: str) -> str:
        return self.cli(
            "worker", "--config", str(self.config), "--adopt", self.ident(name), data="adopt"
        ).stdout

    def close(self) -> None:
        """Kill what still runs and end every session the test made."""
        for worker in self.workers.values():
            if worker.poll() is None:
                worker.kill()
                worker.communicate(timeout=30)
        for name in self.workers:
            self.adopt(name)


def by_call(rows: list[dict]) -> dict[str, dict]:
    assert len({r["call"] for r in rows}) == len(rows), "a call stored twice"
    return {r["call"]: r for r in rows}


def test_worker_stopped_by_sigterm_leaves_the_group(tmp_path):
    """The issue's case: of two workers one is stopped for good; calls published after
    that all reach the store (3 of 6 never did: they waited in the stopped one's session)."""
    site = Site(tmp_path)
    try:
        site.start("a")
        site.start("b")
        log = site.stop("b")
        assert "left the group, session ended" in log
        site.collect(MORE_FILES)
        expected = by_call(site.expected(MORE_FILES))
        assert len(expected) >= 6
        assert by_call(site.wait_stored(len(expected), seconds=20)) == expected
        assert "no session" in site.adopt("b")  # nothing was left on the broker
    finally:
        site.close()


def test_killed_worker_is_handed_over(tmp_path):
    """A worker killed with SIGKILL: its share queues in its session until the live worker,
    told by the broker (its will, after --handover-after), drains the session."""
    site = Site(tmp_path)
    try:
        site.start("a", "--handover-after", "3")
        b = site.start("b", "--handover-after", "3")
        b.kill()
        b.communicate(timeout=30)
        site.collect(MORE_FILES)
        expected = by_call(site.expected(MORE_FILES))
        assert by_call(site.wait_stored(len(expected), seconds=40)) == expected
        log = site.stop("a")
        assert f"drained the session of {site.ident('b')}" in log
        assert "no session" in site.adopt("b")
    finally:
        site.close()


def test_adopt_drains_a_lost_worker(tmp_path):
    """A killed worker whose hand-over has not come yet: `callwatch worker --adopt ID`
    stores what waits in its session and ends the session."""
    site = Site(tmp_path)
    try:
        site.start("a", "--handover-after", "250")
        b = site.start("b", "--handover-after", "250")
        b.kill()
        b.communicate(timeout=30)
        site.collect(MORE_FILES)
        expected = by_call(site.expected(MORE_FILES))
        stranded = by_call(site.wait_stored(len(expected), seconds=3))
        assert len(stranded) < len(expected), "b's share should wait in its session"
        b_id = site.ident("b")
        wrong = subprocess.run(
            [*CLI, "worker", "--config", str(site.config), "--group", "other", "--adopt", b_id],
            env=dict(site.env, CALLWATCH_DATA_DIR=str(tmp_path / "adopt")),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrong.returncode != 0 and "in group 'callwatch', not 'other'" in wrong.stderr
        out = site.adopt("b")
        assert f"session {site.ident('b')}: " in out and "session ended" in out
        assert by_call(site.wait_stored(len(expected), seconds=20)) == expected
        assert "no session" in site.adopt("b")
    finally:
        site.close()
