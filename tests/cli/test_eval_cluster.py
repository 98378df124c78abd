"""`heron eval` and the cluster address: which suites start workers. No cluster runs here."""

from __future__ import annotations

from typing import Any

import pytest

from heron.cli import main
from tests.postgres_server import free_port


class _Reached(Exception):
    """The suites were about to run: the command got past starting (or not starting) its workers."""


def test_hallucination_eval_starts_no_workers_even_with_heron_ray_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # nothing listens at this address: a worker pool would stop the command with a usage error
    monkeypatch.setenv("HERON_RAY_ADDRESS", f"127.0.0.1:{free_port()}")
    sessions: list[Any] = []

    def run_suites(names: Any, session: Any, *rest: Any) -> Any:
        sessions.append(session)
        raise _Reached

    monkeypatch.setattr("heron.evals.suites.run_suites", run_suites)
    with pytest.raises(_Reached):
        main(["eval", "hallucination", "--limit", "1"])
    assert sessions[0].items_on is None  # every item on this machine
    assert "the hallucination suite runs on this machine" in capsys.readouterr().err
