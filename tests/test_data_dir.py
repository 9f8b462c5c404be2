"""One data directory for every command: where it is (the site file, the environment, a
default that does not depend on the current directory), the line each command prints about
it, and the demo: its own database reached by ``--demo``, its reused admin token, 127.0.0.1.

The demo test runs ``callwatch serve --demo`` as a process, as the README's first command
does, and reaches it from other commands started in another directory."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from callwatch.cli import main
from callwatch.settings import Settings, default_data_dir, load_settings

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "examples" / "site.toml"
BIN = Path(sys.executable).parent


def site_file(folder: Path, service: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "site.toml"
    path.write_text(SITE.read_text(encoding="utf-8") + service, encoding="utf-8")
    return path


def test_a_relative_data_dir_is_relative_to_the_site_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = site_file(tmp_path / "etc", '\n[service]\ndata_dir = "data"\nspool_dir = "q"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(os.path.relpath(path, elsewhere), environ={})
    assert settings.data_dir == tmp_path / "etc" / "data"
    assert settings.spool_path == tmp_path / "etc" / "q"
    assert settings.store_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'callwatch.sqlite'}"
    assert settings.origin("data_dir").endswith("site.toml: service.data_dir")


def test_the_variable_wins_and_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = site_file(tmp_path / "etc", '\n[service]\ndata_dir = "/nowhere/else"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(path, environ={"CALLWATCH_DATA_DIR": "here"})
    assert settings.data_dir == tmp_path / "here"
    assert settings.origin("data_dir") == "CALLWATCH_DATA_DIR"


def test_the_default_never_depends_on_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "var-lib-callwatch"
    home = {"HOME": str(tmp_path / "home")}
    assert default_data_dir(home, system=system) == tmp_path / "home/.local/share/callwatch"
    xdg = {**home, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    assert default_data_dir(xdg, system=system) == tmp_path / "xdg" / "callwatch"
    relative_xdg = {**home, "XDG_DATA_HOME": "xdg"}  # not absolute: ignored, as the spec says
    assert default_data_dir(relative_xdg, system=system) == default_data_dir(home, system=system)
    system.mkdir()
    assert default_data_dir(xdg, system=system) == system  # a system install
    system.chmod(0o555)
    try:
        if not os.access(system, os.W_OK):  # root may write anyway
            assert default_data_dir(xdg, system=system) == tmp_path / "xdg" / "callwatch"
    finally:
        system.chmod(0o755)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    for cwd in (tmp_path, tmp_path / "home"):
        cwd.mkdir(exist_ok=True)
        monkeypatch.chdir(cwd)
        settings = load_settings(site_file(tmp_path / "etc"), environ={"HOME": str(cwd)})
        assert settings.data_dir.is_absolute() and settings.origin("data_dir") == "default"
        assert settings.data_dir == default_data_dir({"HOME": str(cwd)})


def test_the_store_line_hides_the_password() -> None:
    settings = load_settings(
        None, environ={"CALLWATCH_DATABASE_URL": "postgresql://cw:s3cret@db/cw", "HOME": "/h"}
    )
    line = settings.describe_store()
    assert "s3cret" not in line and "postgresql://cw:***@db/cw" in line
    assert "(from CALLWATCH_DATABASE_URL)" in line
    demo = Settings(data_dir=Path("/d")).for_demo()
    assert demo.store_url == "sqlite:////d/demo.sqlite" and "(from --demo)" in demo.describe_store()


def test_every_store_command_names_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = site_file(tmp_path / "etc", '\n[service]\ndata_dir = "data"\n')
    monkeypatch.delenv("CALLWATCH_DATA_DIR", raising=False)
    monkeypatch.delenv("CALLWATCH_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    database = f"database sqlite:///{tmp_path / 'etc' / 'data' / 'callwatch.sqlite'};"
    for argv in (
        ["db", "upgrade", "--config", str(path)],
        ["token", "list", "--config", str(path)],
        ["export", "--config", str(path)],
        ["report", "--config", str(path), "--format", "csv", "--output", str(tmp_path)],
        ["ingest", "--store", "--config", str(path), str(ROOT / "sip_fixtures" / "busy.pcap")],
    ):
        assert main(argv) == 0, argv
        err = capsys.readouterr().err
        assert database in err and "(from " in err, (argv, err)
    assert (tmp_path / "etc" / "data" / "callwatch.sqlite").is_file()
    assert not (tmp_path / "callwatch-data").exists()


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "callwatch"), *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _start_demo(env: dict[str, str], cwd: Path, port: int) -> tuple[subprocess.Popen, str]:
    """``serve --demo`` started in ``cwd``; its admin token once it printed it."""
    argv = [str(BIN / "callwatch"), "serve", "--demo", "--config", str(SITE)]
    argv += ["--http-port", str(port), "--hep-port", str(_free_port(socket.SOCK_DGRAM))]
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    token = ""
    while not token:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "the demo stopped before printing its token"
        assert time.monotonic() < deadline
        if line.startswith("admin token"):
            token = line.rsplit(" ", 1)[1].strip()
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, token


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(
    not (BIN / "callwatch").exists(), reason="the callwatch script is not installed"
)
def test_the_demo_and_the_other_commands_share_one_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWATCH_")}
    env.pop("XDG_DATA_HOME", None)
    env["HOME"] = str(home)
    env["PYTHONPATH"] = str(ROOT / "src")
    demo_cwd, other_cwd = tmp_path / "a", tmp_path / "b"
    demo_cwd.mkdir()
    other_cwd.mkdir()
    data = home / ".local" / "share" / "callwatch"
    port = _free_port(socket.SOCK_STREAM)
    proc, token = _start_demo(env, demo_cwd, port)
    base = f"http://127.0.0.1:{port}"
    try:
        # bound to the loopback address only
        listening = Path("/proc/net/tcp").read_text()
        assert f"0100007F:{port:04X}" in listening and f"00000000:{port:04X}" not in listening
        # a token made by the CLI, elsewhere, is one the running demo accepts
        made = _cli(env, other_cwd, "token", "create", "--demo", "--role", "lead",
                    "--department", "세무")  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert f"sqlite:///{data / 'demo.sqlite'}" in made.stderr
        lead = made.stdout.splitlines()[-1]
        answer = httpx.get(f"{base}/api/departments", headers={"Authorization": f"Bearer {lead}"})
        assert answer.status_code == 200 and [d["name"] for d in answer.json()] == ["세무"]
        # a report of the demo's last week is not all zeros
        report = _cli(env, other_cwd, "report", "--demo", "--config", str(SITE),
                      "--format", "csv", "--output", "-")  # fmt: skip
        assert report.returncode == 0, report.stderr
        rows = list(csv.DictReader(io.StringIO(report.stdout.lstrip("\ufeff"))))
        assert rows and sum(int(r["offered"] or 0) for r in rows) > 100
        # without --demo, the command says where the demo's database is
        plain = _cli(env, other_cwd, "token", "list")
        assert f"the demo's database is {data / 'demo.sqlite'}: add --demo" in plain.stderr
        assert not (other_cwd / "callwatch-data").exists()
        assert not (demo_cwd / "callwatch-data").exists()
    finally:
        _stop(proc)
    # the next run reuses its admin token, kept in a file only its owner reads
    kept = data / "demo-token"
    assert kept.read_text().strip() == token and (kept.stat().st_mode & 0o777) == 0o600
    proc, again = _start_demo(env, other_cwd, port)
    _stop(proc)
    assert again == token
    listed = _cli(env, other_cwd, "token", "list", "--demo").stdout
    assert sum(" demo" in line and "active" in line for line in listed.splitlines()) == 1
