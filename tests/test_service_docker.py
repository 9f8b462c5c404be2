"""The container files: the Dockerfile's entrypoint runs (in the venv, as the image would run
it) and answers its own HEALTHCHECK, stops cleanly on SIGTERM; USER/EXPOSE/HEALTHCHECK exist."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent


def instructions(name: str) -> list[str]:
    """The text of every ``name`` instruction of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [
        line[len(name) + 1 :].strip() for line in joined.splitlines() if line.startswith(name + " ")
    ]


def instruction(name: str) -> str:
    """The text of the one ``name`` instruction of the Dockerfile."""
    found = instructions(name)
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dockerfile_runs_as_non_root_exposes_ports_and_checks_health() -> None:
    # a build stage compiles the core; the image itself is slim, without a compiler
    assert instructions("FROM") == ["python:3.11-slim AS build", "python:3.11-slim"]
    build, image = DOCKERFILE.split("\nFROM python:3.11-slim\n")
    assert "CALLWATCH_COMPILE=1 pip wheel" in build and "gcc" in build
    assert "COPY --from=build /wheels" in image and "gcc" not in image
    user = instruction("USER")
    assert user not in ("root", "0") and "useradd" in DOCKERFILE and user in DOCKERFILE
    assert instruction("EXPOSE").split() == ["9060/udp", "8080"]
    health = instruction("HEALTHCHECK")
    assert "/healthz" in health and " CMD " in f" {health} "
    assert json.loads(instruction("ENTRYPOINT")) == ["callwatch"]
    assert json.loads(instruction("CMD")) == ["serve", "--config", "/etc/callwatch/site.toml"]
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for needed in ("postgres:15", "eclipse-mosquitto:2", "CALLWATCH_DATABASE_URL", "9060/udp"):
        assert needed in compose
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".venv" in ignored and ".git" in ignored


def test_entrypoint_command_serves_answers_healthcheck_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site.toml"
    site.write_text((ROOT / "examples" / "site.toml").read_text(encoding="utf-8"), encoding="utf-8")
    argv = json.loads(instruction("ENTRYPOINT")) + json.loads(instruction("CMD"))
    argv = [str(BIN / argv[0]), *[str(site) if a.startswith("/etc/") else a for a in argv[1:]]]
    http_port = free_port(socket.SOCK_STREAM)
    env = {
        **os.environ,
        "CALLWATCH_HTTP_PORT": str(http_port),
        "CALLWATCH_HEP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "CALLWATCH_HEP_HOST": "127.0.0.1",
        "CALLWATCH_HTTP_HOST": "127.0.0.1",
        "CALLWATCH_DATA_DIR": str(tmp_path / "data"),
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    env.pop("CALLWATCH_DATABASE_URL", None)
    env.pop("CALLWATCH_MQTT_URL", None)
    health = instruction("HEALTHCHECK").split(" CMD ", 1)[1]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # generous: the machine may be busy
        while True:
            with socket.socket() as probe:  # a cheap look first: is anything listening yet?
                listening = probe.connect_ex(("127.0.0.1", http_port)) == 0
            if not listening:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the HTTP port never opened"
                time.sleep(0.05)
                continue
            check = subprocess.run(
                shlex.split(health), env=env, capture_output=True, timeout=10, check=False
            )
            if check.returncode == 0:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, check.stderr
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read() if proc.stderr else ""
        assert "serving naju-cityhall" in err and "everything flushed" in err
        assert (tmp_path / "data" / "callwatch.sqlite").is_file()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
