"""One GPU, several models: the LLM steps aside while another model (diffusion) needs the VRAM.

A consumer GPU rarely holds a planner LLM and an image model at once. Whoever is about to run a big
job on the GPU enters :meth:`GpuShare.exclusive`; every registered tenant that holds VRAM is
suspended first (its memory freed) and resumed after, even when the job fails::

    share = GpuShare()
    share.register(llm)                 # a LocalLLM: suspend() frees its weights and KV cache
    with share.exclusive("image generation", device="cuda"):
        pipeline(...)                   # the LLM reloads when the block ends

With ``mode="keep"`` (enough VRAM for both) or a job on the CPU, nothing is suspended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

GpuSharing = Literal["swap", "keep"]


@runtime_checkable
class GpuTenant(Protocol):
    """A model that can give its GPU memory back for a while."""

    @property
    def uses_gpu(self) -> bool:
        """True while it holds GPU memory worth freeing."""
        ...

    def suspend(self) -> None:
        """Free its GPU memory; it is unusable until ``resume``."""
        ...

    def resume(self) -> None:
        """Load again what ``suspend`` freed."""
        ...


@dataclass
class SwapRecord:
    """What one exclusive job did to the tenants, for traces and tests."""

    job: str
    device: str
    suspended: list[str] = field(default_factory=list)
    suspend_seconds: float = 0.0
    resume_seconds: float = 0.0


class GpuShare:
    """The tenants sharing this process's GPU, and the rule for making room (``swap`` or ``keep``)."""

    def __init__(self, mode: GpuSharing = "swap") -> None:
        self.mode: GpuSharing = mode
        self._tenants: list[GpuTenant] = []
        self._lock = threading.RLock()
        self.history: list[SwapRecord] = []

    def register(self, tenant: object) -> bool:
        """Add ``tenant`` if it can suspend and resume (others, e.g. HTTP LLMs, are ignored); True if so."""
        if not isinstance(tenant, GpuTenant):
            return False
        with self._lock:
            if not any(t is tenant for t in self._tenants):
                self._tenants.append(tenant)
        return True

    def unregister(self, tenant: object) -> None:
        with self._lock:
            self._tenants = [t for t in self._tenants if t is not tenant]

    @contextmanager
    def exclusive(self, job: str, device: str) -> Iterator[SwapRecord]:
        """Run ``job`` on ``device`` with the GPU to itself: tenants on it are suspended, then resumed."""
        record = SwapRecord(job=job, device=device)
        with self._lock:
            victims: list[GpuTenant] = []
            if self.mode == "swap" and device.startswith("cuda"):
                started = time.perf_counter()
                for tenant in self._tenants:
                    if tenant.uses_gpu:
                        tenant.suspend()
                        victims.append(tenant)
                        record.suspended.append(type(tenant).__name__)
                record.suspend_seconds = time.perf_counter() - started
            try:
                yield record
            finally:
                started = time.perf_counter()
                for tenant in victims:
                    tenant.resume()
                record.resume_seconds = time.perf_counter() - started
                self.history.append(record)
