"""The backlog of sealed batches: order across memory and the durable queue, leftovers of a
killed run, batches of another version set aside, a disk that refuses writes."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.backlog import Backlog
from callwatch.diskqueue import DurableQueue


def payload(i: int, size: int = 100) -> bytes:
    return pickle.dumps((i, b"x" * size))


def drain(backlog: Backlog) -> list[int]:
    out = []
    while (head := backlog.peek()) is not None:
        out.append(pickle.loads(head[1])[0])
        backlog.pop()
    return out


def test_past_the_memory_limit_batches_go_to_files_and_come_back_in_order(tmp_path: Path) -> None:
    backlog = Backlog(tmp_path, memory_limit=1000)
    for i in range(30):
        backlog.push(2, payload(i))
    assert backlog.on_disk > 0 and backlog.memory_bytes <= 1000
    assert backlog.items == 60 and backlog.batches == 30
    assert backlog.queue is not None and backlog.queue.depth == backlog.on_disk
    assert list(tmp_path.glob("*.queue"))
    assert drain(backlog) == list(range(30))
    assert backlog.items == 0 and backlog.memory_bytes == 0
    assert list(tmp_path.glob("*.queue")) == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.just("pop"), st.integers(0, 600)), max_size=60))
def test_any_mix_of_pushes_and_pops_is_first_in_first_out(
    tmp_path_factory: pytest.TempPathFactory, steps: list[object]
) -> None:
    backlog = Backlog(tmp_path_factory.mktemp("b"), memory_limit=1500)
    model: list[int] = []
    pushed = 0
    for step in steps:
        if step == "pop":
            head = backlog.peek()
            assert (head is None) == (not model)
            if head is not None:
                assert pickle.loads(head[1])[0] == model.pop(0)
                backlog.pop()
        else:
            backlog.push(1, payload(pushed, int(step)))  # type: ignore[arg-type]
            model.append(pushed)
            pushed += 1
        assert backlog.items == len(model) == backlog.batches
    assert drain(backlog) == model


def test_files_left_by_a_killed_run_are_delivered_first(tmp_path: Path) -> None:
    first = Backlog(tmp_path, memory_limit=0)
    for i in range(5):
        first.push(3, payload(i))
    first.pop()  # delivered before the kill
    del first  # killed: the files stay
    again = Backlog(tmp_path, memory_limit=0)
    assert again.items == 12 and again.on_disk == 4
    again.push(1, payload(99))
    assert drain(again) == [1, 2, 3, 4, 99]


def test_batches_of_another_version_and_torn_writes_are_set_aside(tmp_path: Path) -> None:
    first = Backlog(tmp_path, memory_limit=0)
    for i in range(3):
        first.push(1, payload(i))
    assert first.queue is not None
    first.queue.close()
    foreign = struct.pack("<I16s", 1, b"9.9.9") + payload(7)  # pickled by another version
    DurableQueue(tmp_path).prepend([foreign])
    [segment] = sorted(tmp_path.glob("*.queue"))[-1:]
    with open(segment, "ab") as f:
        f.write(b"cut short")  # a write the kill interrupted
    again = Backlog(tmp_path, memory_limit=0)
    assert again.stale == 1 and again.items == 3 and again.batches == 3
    assert again.queue is not None and again.queue.corrupt == 1
    assert drain(again) == [0, 1, 2]
    [aside] = (tmp_path / "stale").iterdir()
    assert aside.read_bytes() == foreign


def test_a_full_disk_keeps_batches_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlog = Backlog(tmp_path, memory_limit=10)
    backlog.push(1, payload(0))
    backlog.push(1, payload(1))  # to disk

    def full(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("callwatch.diskqueue._write_all", full)
    backlog.push(1, payload(2))
    backlog.push(1, payload(3))
    monkeypatch.undo()
    backlog.push(1, payload(4))  # the disk is back, but 2 and 3 wait in memory: behind them
    assert backlog.refused == 1  # the first refusal; then memory until the queue drains
    assert drain(backlog) == [0, 1, 2, 3, 4]
    backlog.push(1, payload(5))
    backlog.push(1, payload(6))
    assert backlog.on_disk == 2 and drain(backlog) == [5, 6]


def test_without_a_directory_everything_waits_in_memory() -> None:
    backlog = Backlog(None, memory_limit=0)
    backlog.push(2, [object(), object()])
    backlog.push(1, payload(5))
    assert backlog.on_disk == 0 and backlog.items == 3
    backlog.pop()
    assert pickle.loads(backlog.peek()[1])[0] == 5  # type: ignore[index]
