"""`callwatch collect` and `callwatch worker` as processes, against the real Mosquitto.

A worker subscribes; a collector replays fixture captures and publishes; the worker's store
then exports exactly what `callwatch ingest` prints for the same files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
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
        [*CLI, "-v", "worker", "--config", str(site), "--identifier", f"w-{site_name}"],
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
        stored: list[str] = []
        for _ in range(100):  # the worker batches; give it a moment to write
            stored = subprocess.run(
                [*CLI, "export", "--config", str(site), "--format", "jsonl"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
            if len(stored) >= len(expected):
                break
            time.sleep(0.2)
        assert [json.loads(x) for x in stored] == [json.loads(x) for x in expected]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert worker.returncode == 0
