"""How many CPU threads llama.cpp gets by default (``heron.llm.devices.cpu_threads``), on made-up
CPU topologies: one per physical core to decode, every CPU for prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.llm import devices


def _topology(root: Path, siblings: dict[int, str]) -> None:
    for cpu, shared in siblings.items():
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "thread_siblings_list").write_text(shared + "\n")


def test_two_cores_without_hyper_threads_decode_on_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _topology(tmp_path, {0: "0", 1: "1"})
    monkeypatch.setattr(devices, "CPU_TOPOLOGY", tmp_path)
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {0, 1})
    assert devices.cpu_threads() == (2, 2)  # (heron used to decode on one of them)


def test_hyper_threads_of_one_core_count_once_to_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _topology(tmp_path, {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"})
    monkeypatch.setattr(devices, "CPU_TOPOLOGY", tmp_path)
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert devices.cpu_threads() == (2, 4)


def test_only_the_cpus_the_process_may_use_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _topology(tmp_path, {cpu: str(cpu) for cpu in range(8)})
    monkeypatch.setattr(devices, "CPU_TOPOLOGY", tmp_path)
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {2, 5, 6})
    assert devices.cpu_threads() == (3, 3)


def test_without_a_topology_every_cpu_is_a_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "CPU_TOPOLOGY", tmp_path / "missing")
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert devices.cpu_threads() == (3, 3)
