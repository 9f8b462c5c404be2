"""The mypyc-compiled core gives exactly what the interpreted core gives.

Builds the wheel as production does (``CALLWATCH_COMPILE=1``, see docs/compiled-core.md),
unpacks it beside the tests, and runs every sip_fixtures/ capture (and the public captures,
when ../shared is there) through the whole chain in both builds: every leg event, judged
call, verdict and callback, encoded losslessly, must be the same, in the same order.
The README's test command deselects it (pyproject.toml ``addopts``); ``.ci/run`` runs it with
``pytest -m compiled``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "build_backend"))
from core_modules import core_modules  # the modules setup.py compiles

pytestmark = pytest.mark.compiled

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT.parent / "shared" / "captures" / "public"

# Runs in a child interpreter: every output of every capture given, as lossless JSON.
DRIVER = """
import json, pickle, sys
from pathlib import Path
import callwatch
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline
from callwatch.store.codec import encode_output

site = load_site(Path(sys.argv[1]))
site = pickle.loads(pickle.dumps(site))  # as the service hands it to its store process
result = {"core": callwatch.core_build(), "captures": {}, "pickled": {}}
for name in sys.argv[2:]:
    pipe = CallPipeline(site)
    out = []
    for packet in read_capture(Path(name), CaptureStats()):
        out += pipe.push(packet)
    out += pipe.flush()
    encoded = [encode_output(o) for o in out]
    result["captures"][Path(name).name] = encoded
    again = pickle.loads(pickle.dumps(out))  # the store process's side of the boundary
    result["pickled"][Path(name).name] = [encode_output(o) for o in again] == encoded
json.dump(result, sys.stdout, ensure_ascii=False, sort_keys=True)
"""


@pytest.fixture(scope="module")
def compiled_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the compiled build of this checkout."""
    work = tmp_path_factory.mktemp("compiled")
    env = {**os.environ, "CALLWATCH_COMPILE": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work), str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = work.glob("callwatch-*.whl")
    unpacked = work / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    missing = [
        name
        for name in core_modules(ROOT / "src")
        if not list(unpacked.joinpath(*name.split(".")).parent.glob(f"{name.split('.')[-1]}.*.so"))
    ]
    assert missing == [], "not compiled"
    return unpacked


def run_driver(captures: list[Path], pythonpath: Path | None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    args = [str(ROOT / "examples" / "site.toml"), *map(str, captures)]
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_compiled_and_interpreted_cores_give_the_same_outputs(compiled_path: Path) -> None:
    captures = sorted((ROOT / "sip_fixtures").glob("*.pcap"))
    captures += sorted(PUBLIC.glob("*.pcap*")) if PUBLIC.is_dir() else []
    interpreted = run_driver(captures, ROOT / "src")  # this checkout, whatever is installed
    compiled = run_driver(captures, compiled_path)
    assert interpreted["core"] == "interpreted"
    assert compiled["core"] == "compiled"
    assert set(compiled["captures"]) == {p.name for p in captures}
    assert all(compiled["pickled"].values()) and all(interpreted["pickled"].values())
    for name, outputs in interpreted["captures"].items():
        assert outputs, name
        assert compiled["captures"][name] == outputs, name
