"""docker-compose.yml, read and exercised without Docker (Docker cannot run here): it parses;
the broker refuses anonymous clients and takes the password from the environment (no default
password anywhere); `docker compose run --rm callwatch token create ...` is the image's
entrypoint with other arguments, and runs; the broker's own start script, run with a real
Mosquitto, refuses an anonymous client and accepts the password."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from test_service_docker import instruction

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]


def test_compose_parses_and_keeps_secrets_out() -> None:
    assert set(SERVICES) >= {"db", "broker", "callwatch", "callwatch-migrate"}
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    # every password comes from .env, and compose stops when one is missing
    for var in ("CALLWATCH_DB_PASSWORD", "CALLWATCH_MQTT_PASSWORD"):
        uses = re.findall(r"\$\{" + var + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), (var, uses)
    env = SERVICES["callwatch"]["environment"]
    assert env["CALLWATCH_MQTT_URL"].startswith("mqtt://callwatch:${CALLWATCH_MQTT_PASSWORD")
    assert "${CALLWATCH_DB_PASSWORD" in env["CALLWATCH_DATABASE_URL"]
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_the_broker_is_not_open_to_anonymous_clients() -> None:
    broker = SERVICES["broker"]
    script = broker["command"][-1]
    assert "allow_anonymous false" in script and "allow_anonymous true" not in script
    assert "password_file" in script and "mosquitto_passwd" in script
    assert all(str(p).startswith("127.0.0.1:") for p in broker.get("ports", []))
    # the pages too: only a reverse proxy on the host reaches them
    assert "127.0.0.1:8080:8080" in SERVICES["callwatch"]["ports"]


def test_compose_run_reaches_any_subcommand(tmp_path: Path) -> None:
    for name in ("callwatch", "callwatch-migrate"):
        assert "entrypoint" not in SERVICES[name]  # the image's: callwatch
    assert json.loads(instruction("ENTRYPOINT")) == ["callwatch"]
    assert SERVICES["callwatch-migrate"]["command"][:2] == ["db", "upgrade"]
    # `docker compose run --rm callwatch token create --role admin --config /etc/...`
    site = tmp_path / "site.toml"
    site.write_text((ROOT / "examples" / "site.toml").read_text(encoding="utf-8"))
    argv = json.loads(instruction("ENTRYPOINT"))
    argv += ["token", "create", "--role", "admin", "--config", "/etc/callwatch/site.toml"]
    argv = [str(BIN / argv[0]), *[str(site) if a.startswith("/etc/") else a for a in argv[1:]]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWATCH_")}
    env["CALLWATCH_DATA_DIR"] = str(tmp_path / "data")  # the image sets it (Dockerfile ENV)
    assert "CALLWATCH_DATA_DIR=/var/lib/callwatch" in instruction("ENV")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("cw_")
    assert str(tmp_path / "data" / "callwatch.sqlite") in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _subscribe(port: int, *auth: str) -> subprocess.CompletedProcess[str]:
    argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "x", "-C", "1", "-W", "2"]
    return subprocess.run([*argv, *auth], capture_output=True, text=True, timeout=20, check=False)


@pytest.mark.skipif(
    not all(Path(p).exists() for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto_passwd")),
    reason="Mosquitto is not installed",
)
def test_the_broker_script_really_requires_the_password() -> None:
    port = _free_port()
    # as in the container: run as root, Mosquitto drops to its own user before it reads the
    # password file (so the script hands the file to that user); elsewhere it stays this user
    as_root = os.geteuid() == 0
    if as_root:
        try:
            pwd.getpwnam("mosquitto")
        except KeyError:
            pytest.skip("running as root without a mosquitto user")
    folder = Path(tempfile.mkdtemp(prefix="cw-broker-"))
    folder.chmod(0o755)  # the mosquitto user may enter it
    script = SERVICES["broker"]["command"][-1].replace("$$", "$")  # compose's escape
    script = script.replace("/mosquitto/data", str(folder))
    script = script.replace("'listener 1883'", f"'listener {port} 127.0.0.1'")
    if not as_root:
        script = re.sub(r"^chown .*$", "", script, flags=re.M)
    script = script.replace("'persistence true'", "'persistence false'")
    env = {**os.environ, "MQTT_PASSWORD": "s3cret-from-env"}
    proc = subprocess.Popen(["sh", "-c", script], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        anonymous = _subscribe(port)
        assert anonymous.returncode != 0 and "not authorised" in anonymous.stderr.lower()
        wrong = _subscribe(port, "-u", "callwatch", "-P", "guess")
        assert wrong.returncode != 0
        right = _subscribe(port, "-u", "callwatch", "-P", "s3cret-from-env")
        assert "not authorised" not in right.stderr.lower()  # -W 2: times out waiting, connected
        assert oct((folder / "passwd").stat().st_mode & 0o777) == "0o600"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
