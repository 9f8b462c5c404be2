"""The progress bar of `ingest --format table`."""

from __future__ import annotations

import io

from callwatch.progress import Progress


def test_progress_draws_each_percent_once_and_finishes_the_line():
    out = io.StringIO()
    bar = Progress(10_000, out, label="x")
    for frames in range(0, 101):
        bar.update(frames, frames * 84)  # 100 bytes a frame with its record header
        bar.update(frames, frames * 84)  # no redraw without movement
    bar.close()
    text = out.getvalue()
    assert text.endswith("x [" + "#" * 30 + "] 100%\n")
    drawn = [int(part.rsplit("]", 1)[1].strip(" %\n")) for part in text.split("\r")[1:-1]]
    assert drawn == sorted(set(drawn))  # each percentage once, never backwards
    assert drawn[0] == 0 and drawn[-1] == 100 and len(drawn) > 90


def test_progress_never_passes_100_percent():
    out = io.StringIO()
    bar = Progress(100, out)
    bar.update(10, 10_000)
    assert out.getvalue().endswith("100%")
