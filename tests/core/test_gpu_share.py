"""GpuShare: tenants leave the GPU for an exclusive CUDA job and come back, whatever happens in it."""

from __future__ import annotations

import pytest

from heron.gpu_share import GpuShare


class RecordingTenant:
    """A GPU tenant that writes what is done to it into a shared log."""

    def __init__(self, name: str, log: list[str], on_gpu: bool = True) -> None:
        self.name, self.log, self.on_gpu = name, log, on_gpu

    @property
    def uses_gpu(self) -> bool:
        return self.on_gpu

    def suspend(self) -> None:
        self.log.append(f"suspend {self.name}")
        self.on_gpu = False

    def resume(self) -> None:
        self.log.append(f"resume {self.name}")
        self.on_gpu = True


def test_swap_suspends_gpu_tenants_for_a_cuda_job_and_resumes_them() -> None:
    log: list[str] = []
    share = GpuShare("swap")
    share.register(RecordingTenant("llm", log))
    share.register(RecordingTenant("cpu-model", log, on_gpu=False))
    with share.exclusive("images", device="cuda:0") as record:
        log.append("job")
    assert log == ["suspend llm", "job", "resume llm"]
    assert record.suspended == ["RecordingTenant"] and share.history == [record]


def test_tenants_come_back_when_the_job_fails() -> None:
    log: list[str] = []
    share = GpuShare()
    share.register(RecordingTenant("llm", log))
    with pytest.raises(RuntimeError), share.exclusive("images", device="cuda"):
        raise RuntimeError("out of memory")
    assert log == ["suspend llm", "resume llm"]


@pytest.mark.parametrize(("mode", "device"), [("keep", "cuda"), ("swap", "cpu"), ("swap", "mps")])
def test_nothing_moves_with_keep_or_off_the_cuda_gpu(mode: str, device: str) -> None:
    log: list[str] = []
    share = GpuShare(mode)  # type: ignore[arg-type]
    share.register(RecordingTenant("llm", log))
    with share.exclusive("images", device=device):
        log.append("job")
    assert log == ["job"]


def test_only_models_that_can_step_aside_are_registered_once() -> None:
    log: list[str] = []
    share = GpuShare()
    tenant = RecordingTenant("llm", log)
    assert share.register(tenant) and share.register(tenant)
    assert not share.register(object())
    with share.exclusive("images", device="cuda"):
        pass
    assert log == ["suspend llm", "resume llm"]  # registered twice, suspended once
    share.unregister(tenant)
    with share.exclusive("images", device="cuda"):
        pass
    assert log == ["suspend llm", "resume llm"]


def test_an_agent_registers_its_model_with_the_tool_context() -> None:
    from heron.agents.agent import Agent
    from heron.llm import ScriptedLLM

    log: list[str] = []

    class SuspendableScriptedLLM(ScriptedLLM):
        uses_gpu = True

        def suspend(self) -> None:
            log.append("suspend")

        def resume(self) -> None:
            log.append("resume")

    llm = SuspendableScriptedLLM([])
    with Agent(llm) as agent, agent.context.gpu.exclusive("images", device="cuda"):
        log.append("job")
    assert log == ["suspend", "job", "resume"]
