"""The fixture office of ``sip_fixtures/asterisk/`` with a probe account, for probe-call tests.

Run as root (Asterisk at /opt/asterisk, or ``ASTERISK_PREFIX``). :func:`probe_office` starts a
fresh Asterisk on the office configuration of ``../asterisk/conf/`` moved to its own loopback
block (``127.0.14.x`` instead of ``127.0.13.x``, so it can run beside ``regenerate.py``), with
the files of ``conf/`` here appended to their namesakes: the ``probe`` account (``pjsip.conf``,
digest auth, registration), its dialplan context (``extensions.conf``: the public numbers and
nothing else) and the registrar module (``modules.conf``). :func:`phone` starts one sipp desk
phone of that office on its own address. Stdlib only; the helpers of ``regenerate.py`` do the
process handling.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
OFFICE = HERE.parent / "asterisk"
PREFIX = Path(os.environ.get("ASTERISK_PREFIX", "/opt/asterisk"))

PBX_IP = "127.0.14.1"
SIP_PORT = 5160
HEP_PORT = 9160
AMI_PORT = 5138
PROBE_IP = "127.0.14.30"
PROBE_USER = "01099990000"  # a number: callwatch joins the PBX's legs of a caller by number
PROBE_SECRET = "probe-fixture-only"  # a loopback-only test instance, not a real credential
PHONES = {"2001": "127.0.14.11", "2002": "127.0.14.12", "2003": "127.0.14.13"}


def _load_regenerate():
    name = "asterisk_regenerate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, OFFICE / "regenerate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


REGEN = _load_regenerate()
FixtureError = REGEN.FixtureError


def _office_text(conf: Path, etc: Path, run: Path) -> str:
    text = conf.read_text().replace("127.0.13.", "127.0.14.")
    extra = HERE / "conf" / conf.name
    if extra.is_file():
        text += extra.read_text()
    text = text.replace("@PROBE_SECRET@", PROBE_SECRET)
    text = text.replace("@ETC@", str(etc)).replace("@RUN@", str(run))
    return text.replace("@PREFIX@", str(PREFIX))


@contextlib.contextmanager
def probe_office(scratch: Path, *, hep: bool = True) -> Iterator[Path]:
    """Asterisk in the foreground on the office config plus the probe account; yields its log.
    ``hep=False`` switches its HEP copies off (``hep.conf``: ``enabled = no``)."""
    binary = PREFIX / "sbin" / "asterisk"
    if not binary.is_file():
        raise FixtureError(f"no Asterisk at {binary} (see sip_fixtures/asterisk/README.md)")
    if REGEN._udp_taken(PBX_IP, SIP_PORT):
        raise FixtureError(f"{PBX_IP}:{SIP_PORT} is already in use")
    etc, run = scratch / "etc", scratch / "run"
    etc.mkdir(parents=True)
    for sub in ("db", "lib", "keys", "spool", "run", "log", "data/sounds/en"):
        (run / sub).mkdir(parents=True)
    (run / "data" / "documentation").symlink_to(PREFIX / "var/lib/asterisk/documentation")
    REGEN._silence(run / "data/sounds/en/pbx-transfer.wav")
    for conf in (OFFICE / "conf").glob("*.conf"):
        text = _office_text(conf, etc, run)
        if conf.name == "hep.conf" and not hep:
            text = text.replace("enabled = yes", "enabled = no")
        (etc / conf.name).write_text(text)
    log = scratch / "asterisk.log"
    proc = REGEN._spawn([str(binary), "-C", str(etc / "asterisk.conf"), "-f", "-n"], log)
    try:
        REGEN._wait_until(lambda: REGEN._udp_taken(PBX_IP, SIP_PORT), "Asterisk SIP", proc, 30.0)
        REGEN._wait_until(lambda: REGEN._tcp_open(PBX_IP, AMI_PORT), "Asterisk AMI", proc, 30.0)
        yield log
    finally:
        REGEN._stop(proc, grace=10.0)


def phone(
    user: str, scenario: str, logdir: Path, *, ring_ms: int = 0, timeout_s: int = 60
) -> subprocess.Popen[bytes]:
    """A sipp desk phone ``user`` running ``scenario`` (``../scenarios/``) once; ``ring_ms`` is
    its pause (how long it rings before answering). The caller waits for it to bind."""
    scenario_path = OFFICE.parent / "scenarios" / scenario
    argv = [
        "sipp",
        "-sf", str(scenario_path),
        "-i", PHONES[user],
        "-p", str(SIP_PORT),
        "-mi", PHONES[user],
        "-mp", "32000",
        "-m", "1",
        "-d", str(ring_ms),
        "-nostdin",
        "-timeout", f"{timeout_s}s",
        "-timeout_error",
        "-key", "callee", user,
        "-key", "ttag", f"{user}-tag",
        "-trace_msg", "-message_file", str(logdir / f"phone-{user}.msg"),
    ]  # fmt: skip
    proc = REGEN._spawn(argv, logdir / f"phone-{user}.out")
    REGEN._wait_until(lambda: REGEN._udp_taken(PHONES[user], SIP_PORT), f"phone {user}", proc, 5.0)
    return proc


stop = REGEN._stop
tcpdump = REGEN.tcpdump
