"""Service settings: defaults, the site file's [service] table, environment overrides, errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from callwatch.packet import Packet
from callwatch.settings import Settings, SettingsError, default_data_dir, load_settings
from callwatch.sip.clock import AHEAD_OF_WALL


def site_file(tmp_path: Path, service: str = "") -> Path:
    path = tmp_path / "site.toml"
    path.write_text('[site]\nname = "t"\ncharter = "naju"\n' + service, encoding="utf-8")
    return path


def test_defaults_are_the_embedded_service(tmp_path: Path) -> None:
    settings = load_settings(site_file(tmp_path), environ={"HOME": str(tmp_path)})
    assert settings == Settings(data_dir=default_data_dir({"HOME": str(tmp_path)}))
    assert (settings.hep_port, settings.http_port, settings.mqtt_url) == (9060, 8080, None)
    assert settings.hep_allow is None and settings.hep_auth_key is None
    assert settings.store_url == f"sqlite:///{settings.data_dir / 'callwatch.sqlite'}"
    assert settings.spool_path == settings.data_dir / "spool"


def test_file_then_environment(tmp_path: Path) -> None:
    path = site_file(
        tmp_path,
        '[service]\nhep_port = 9999\nhttp_port = 8181\nhep_allow = ["10.0.0.0/8"]\n'
        'sip_ports = [5070]\nmqtt_url = "mqtt://file:1883"\n',
    )
    env = {
        "CALLWATCH_HEP_PORT": "19060",
        "CALLWATCH_DATABASE_URL": "postgresql://u@db/cw",
        "CALLWATCH_HEP_ALLOW": "192.0.2.10, 2001:db8::/32",
        "CALLWATCH_HEP_AUTH_KEY": "s3cret",
        "CALLWATCH_SPOOL_DIR": "/var/spool/cw",
        "CALLWATCH_MQTT_URL": "",  # empty: unset, the file's value stays
    }
    s = load_settings(path, environ=env)
    assert s.hep_port == 19060 and s.http_port == 8181
    assert s.hep_allow == (
        ipaddress.ip_network("192.0.2.10/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert s.hep_auth_key == b"s3cret"
    assert s.store_url == "postgresql://u@db/cw"
    assert s.spool_path == Path("/var/spool/cw")
    assert s.mqtt_url == "mqtt://file:1883"
    assert s.sip_ports == (5070,)


def test_every_mistake_is_listed(tmp_path: Path) -> None:
    path = site_file(tmp_path, '[service]\nhep_port = "ninety"\nhttpport = 1\n')
    env = {
        "CALLWATCH_HTTP_PORT": "70000",
        "CALLWATCH_HEP_ALLOW": "10.0.0.300",
        "CALLWATCH_MQTT_URL": "http://broker",
        "CALLWATCH_CLOCK_SKEW_MS": "soon",
    }
    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ=env)
    text = str(caught.value)
    assert len(caught.value.problems) == 6
    assert "service.hep_port: 'ninety' is not a port number" in text
    assert "service.httpport: unknown key" in text
    # the file's mistakes carry their line, an unknown key the key it was probably meant to be
    assert f"{path}:5: service.hep_port: 'ninety'" in text
    assert f"{path}:6: service.httpport: unknown key (did you mean 'http_port'?)" in text
    assert "CALLWATCH_HTTP_PORT: 70000 is not a port number" in text
    assert "CALLWATCH_HEP_ALLOW: '10.0.0.300' is not an IP address" in text
    assert "CALLWATCH_MQTT_URL: 'http://broker' is not an MQTT URL" in text
    assert "CALLWATCH_CLOCK_SKEW_MS: 'soon' is not a number of milliseconds" in text


def test_unreadable_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[service\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, environ={})


def test_command_line_overrides(tmp_path: Path) -> None:
    s = load_settings(site_file(tmp_path), environ={"CALLWATCH_HEP_PORT": "1"})
    assert s.with_overrides(hep_port=None) is s
    t = s.with_overrides(hep_port=2, interface="eth1")
    assert (t.hep_port, t.interface) == (2, "eth1")
    with pytest.raises(SettingsError, match="command line: -1 is not a port number"):
        s.with_overrides(http_port=-1)


def test_the_probe_number_comes_from_the_environment_only(tmp_path: Path) -> None:
    s = load_settings(site_file(tmp_path), environ={"CALLWATCH_PROBE_USER": " 07010000001 "})
    assert s.probe_user == "07010000001" and s.probe_callers == frozenset({"07010000001"})
    assert s.origin("probe_user") == "CALLWATCH_PROBE_USER"
    assert load_settings(site_file(tmp_path), environ={}).probe_callers == frozenset()
    with pytest.raises(SettingsError, match=r"service.probe_user: set it in the environment"):
        load_settings(site_file(tmp_path, '[service]\nprobe_user = "1"\n'), environ={})


def test_the_allowance_ahead_of_the_clock_reaches_the_pipeline_clock(tmp_path: Path) -> None:
    def refused_at(settings: Settings, ahead_s: int) -> int:
        """1 when the settings' clock refuses a packet ``ahead_s`` after the wall clock."""
        clock = settings.capture_clock()
        wall = 1_800_000_000_000_000
        clock.advance(wall)
        at = wall + ahead_s * 1_000_000
        clock.admit(Packet(at, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", b""))
        return clock.refused[AHEAD_OF_WALL]

    default = load_settings(site_file(tmp_path), environ={"HOME": str(tmp_path)})
    assert default.clock_ahead_s == 300
    assert refused_at(default, 299) == 0 and refused_at(default, 301) == 1
    wide = load_settings(
        site_file(tmp_path, "[service]\nclock_ahead_s = 3600\n"), environ={"HOME": str(tmp_path)}
    )
    assert refused_at(wide, 3599) == 0 and refused_at(wide, 3601) == 1  # 3599 s: held, a jump
    with pytest.raises(SettingsError, match="CALLWATCH_CLOCK_AHEAD_S: 0 s is not an allowance"):
        load_settings(site_file(tmp_path), environ={"CALLWATCH_CLOCK_AHEAD_S": "0"})
