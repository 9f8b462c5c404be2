"""Opt-in compiled core: ``CALLWATCH_COMPILE=1 pip install .`` (see docs/compiled-core.md).

Everything else about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

# The per-packet chain, from capture to verdicts. Each module must pass mypy; the test suite runs
# the same fixtures through the compiled and the interpreted core and compares the output.
CORE = [
    "src/callwatch/capture/stats.py",
    "src/callwatch/packet.py",
    "src/callwatch/capture/packet.py",
    "src/callwatch/capture/framing.py",
    "src/callwatch/capture/hep.py",
    "src/callwatch/capture/reassembly.py",
    "src/callwatch/capture/streams.py",
    "src/callwatch/capture/decoder.py",
    "src/callwatch/capture/pcap.py",
    "src/callwatch/sip/uri.py",
    "src/callwatch/sip/sdp.py",
    "src/callwatch/sip/ami.py",
    "src/callwatch/sip/message.py",
    "src/callwatch/sip/events.py",
    "src/callwatch/sip/dialogs.py",
    "src/callwatch/sip/reorder.py",
    "src/callwatch/sip/feed.py",
    "src/callwatch/calls/model.py",
    "src/callwatch/calls/_records.py",
    "src/callwatch/calls/transfers.py",
    "src/callwatch/calls/ami_links.py",
    "src/callwatch/calls/summary.py",
    "src/callwatch/calls/assembler.py",
    "src/callwatch/charter/rules.py",
    "src/callwatch/pipeline.py",
]


def _extensions() -> list:
    if os.environ.get("CALLWATCH_COMPILE", "").strip() not in ("1", "true", "yes"):
        return []
    if "editable_wheel" in sys.argv:
        sys.exit("callwatch: CALLWATCH_COMPILE is for `pip install .`, not editable installs")
    try:
        from mypyc.build import mypycify
    except ImportError:
        if {"egg_info", "dist_info"} & set(sys.argv):
            return []  # asking for build requirements: the backend adds mypy
        sys.exit("callwatch: CALLWATCH_COMPILE=1 needs mypy (mypyc) in the build environment")
    # Modules outside CORE are read for their types only; the build environment has mypy
    # but not the runtime dependencies, whose types are taken as unknown.
    flags = ["--follow-imports=silent", "--ignore-missing-imports"]
    return mypycify([*flags, *CORE], opt_level="3")


setup(ext_modules=_extensions())
