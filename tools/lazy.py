"""Class-based tools for heavy set-up: loaded on first call, released deterministically."""

from __future__ import annotations

import re
import threading
from typing import Any, ClassVar

from heron.errors import ToolDeclarationError
from heron.tools.base import Tool
from heron.tools.declaration import describe_function
from heron.tools.results import Risk


class LazyTool(Tool):
    """A tool with state worth sharing between calls (a model, an index, a client).

    Subclass it, put the set-up in ``load`` and the tear-down in ``unload``, and declare the call
    as a typed ``run`` method with a docstring, as for ``@tool``. ``load`` runs once, on the first
    call; ``close`` (or leaving a ``with`` block) calls ``unload``; a later call loads again::

        class Glossary(LazyTool, name="glossary"):
            def load(self) -> None:
                self.terms = json.loads(Path("terms.json").read_text())

            def run(self, term: str) -> str:
                \"\"\"Look up a term in the project glossary.

                Args:
                    term: the word to define
                \"\"\"
                return self.terms.get(term, "not in the glossary")
    """

    tool_name: ClassVar[str | None] = None
    tool_risk: ClassVar[Risk] = Risk.LOW
    tool_cites: ClassVar[bool] = False
    tool_think: ClassVar[bool] = False
    tool_concurrent: ClassVar[bool] = False
    tool_repeats_allowed: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(
        cls,
        name: str | None = None,
        risk: Risk | None = None,
        cites: bool | None = None,
        think: bool | None = None,
        concurrent: bool | None = None,
        repeats_allowed: tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if cites is not None:
            cls.tool_cites = cites
        if think is not None:
            cls.tool_think = think
        if concurrent is not None:
            cls.tool_concurrent = concurrent
        if repeats_allowed is not None:
            cls.tool_repeats_allowed = tuple(repeats_allowed)
        if name is not None:
            cls.tool_name = name
        if risk is not None:
            cls.tool_risk = risk

    def __init__(self) -> None:
        default_name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower().removesuffix("_tool")
        if type(self).run is LazyTool.run:
            raise ToolDeclarationError(
                f"{type(self).__name__} has no `run` method",
                "define `def run(self, <typed parameters>) -> <type>:` with a docstring",
            )
        spec = describe_function(self.run, name=type(self).tool_name or default_name)
        self._load_lock = threading.Lock()
        self.loaded = False
        super().__init__(
            name=spec.name,
            description=spec.description,
            args_model=spec.args_model,
            function=self._loaded_call(),
            risk=type(self).tool_risk,
            context_param=spec.context_param,
            required_deps=spec.required_deps,
            cites=type(self).tool_cites,
            think=type(self).tool_think,
            concurrent=type(self).tool_concurrent,
            repeats_allowed=type(self).tool_repeats_allowed,
        )

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Subclasses replace this with a typed method and a docstring."""
        raise NotImplementedError

    def load(self) -> None:
        """Heavy set-up; runs once, before the first call."""

    def unload(self) -> None:
        """Release what ``load`` acquired."""

    def ensure_loaded(self) -> None:
        with self._load_lock:
            if not self.loaded:
                self.load()
                self.loaded = True

    def close(self) -> None:
        with self._load_lock:
            if self.loaded:
                self.loaded = False
                self.unload()

    def _loaded_call(self) -> Any:
        import asyncio

        if asyncio.iscoroutinefunction(self.run):

            async def call_async(**kwargs: Any) -> Any:
                await asyncio.to_thread(self.ensure_loaded)
                return await self.run(**kwargs)

            return call_async

        def call(**kwargs: Any) -> Any:
            self.ensure_loaded()
            return self.run(**kwargs)

        return call
