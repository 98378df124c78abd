"""``heron doctor``: what heron will use on this machine, each line ok / problem with the fix."""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import heron
from heron.config import Settings
from heron.errors import HeronError
from heron.llm.devices import cpu_threads, llama_devices

Status = Literal["ok", "warn", "problem"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Check]:
    """Every doctor check, in display order. Never raises: a failure, even one a check did not
    foresee, is a 'problem' line."""
    checks: list[tuple[str, Callable[[Settings], Check | list[Check]]]] = [
        ("python", lambda _: _check_python()),
        ("heron", lambda _: Check("heron", "ok", f"{heron.__version__} ({Path(heron.__file__).parent})")),
        ("llama.cpp", _check_llama_cpp),
        ("model", _check_model),
        ("tool format", _check_tool_format),
        ("embedding", _check_embedding),
        ("image model", _check_image_model),
        ("model server", _check_model_server),
        ("chroma", _check_chroma),
        ("data dir", _check_data_dir),
        ("run store", _check_run_store),
        ("cluster", _check_cluster),
        ("sandbox", _check_sandbox),
        ("mcp servers", _check_mcp_servers),
        ("config", _check_config_files),
    ]
    found: list[Check] = []
    for name, check in checks:
        try:
            result = check(settings)
        except Exception as exc:
            logging.getLogger("heron.doctor").debug("the %s check failed", name, exc_info=True)
            result = Check(name, "problem", f"{type(exc).__name__}: {exc}", "`heron -v doctor` shows where")
        found.extend(result if isinstance(result, list) else [result])
    return found


def _check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(
        "python",
        "ok" if ok else "problem",
        f"{platform.python_version()} ({sys.executable})",
        "" if ok else "heron needs Python >= 3.11",
    )


def _check_llama_cpp(settings: Settings) -> list[Check]:
    try:
        import llama_cpp
    except ImportError as exc:
        return [
            Check(
                "llama.cpp",
                "problem",
                f"llama-cpp-python not importable: {exc}",
                "run `make setup` (builds llama-cpp-python from source, about 8 minutes)",
            )
        ]
    checks = [Check("llama.cpp", "ok", f"llama-cpp-python {llama_cpp.__version__}")]
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    devices = ", ".join(llama_devices()) or "none listed"
    if gpu:
        layers = "all layers" if settings.gpu_layers == "auto" else f"{settings.gpu_layers} layers"
        checks.append(
            Check("gpu offload", "ok", f"built with GPU offload; devices: {devices}; using {layers}")
        )
    else:
        checks.append(
            Check(
                "gpu offload",
                "ok",
                f"CPU-only build (devices: {devices}); runs on the CPU",
                "for a GPU: CMAKE_ARGS='-DGGML_CUDA=on' pip install --force-reinstall --no-cache-dir "
                "llama-cpp-python",
            )
        )
    if settings.threads:
        threads = f"{settings.threads} (threads in the settings)"
    else:
        decode, prompts = cpu_threads()
        threads = f"{decode} to decode (one per physical core), {prompts} for prompts"
    checks.append(Check("cpu threads", "ok", threads))
    return checks


def _check_model(settings: Settings) -> Check:
    """The planner GGUF: found, and its header and tensor table whole (a truncated file is a problem)."""
    from heron.llm.gguf_file import read_gguf_header
    from heron.models import KNOWN_MODELS

    if settings.llm_base_url:
        return Check(
            "model",
            "ok",
            f"no local model: llm_base_url is set, so the agent's model is the one {settings.llm_base_url} "
            "serves (the `model server` line)",
            "unset llm_base_url (HERON_LLM_BASE_URL) to run a local GGUF in-process",
        )
    try:
        path = settings.llm_model_path()
        header = read_gguf_header(path)
    except HeronError as exc:
        problem = getattr(exc, "problem", str(exc))
        return Check("model", "problem", problem, getattr(exc, "hint", "") or "")
    size_mb = path.stat().st_size / 2**20
    if settings.model_path:
        source = "model_path"
    elif settings.model in KNOWN_MODELS:
        source = f"model {settings.model!r}, {KNOWN_MODELS[settings.model].title}"
    else:
        source = f"model {settings.model!r}"
    trained = header.trained_context or "unknown"
    return Check(
        "model",
        "ok",
        f"{path} ({size_mb:.0f} MiB, {source}); context {settings.context_size} of {trained} trained; "
        "`heron models` lists the others",
    )


def _check_tool_format(settings: Settings) -> Check:
    """How the agent's turns are written for this model (heron.agents.turn_formats): loads the model
    and asks it the one probe turn "auto" decides by."""
    from heron.agents.turn_formats import GenericFormat, turn_format
    from heron.llm import open_llm
    from heron.llm.base import DecodesGrammar

    setting = settings.agent.tool_format
    fix = "set agent.tool_format (HERON_AGENT__TOOL_FORMAT) to generic, hermes, llama3 or mistral to choose"
    try:
        llm = open_llm(settings)
        try:
            chosen = turn_format(setting, llm, [])
            declared = llm.native_tool_format if isinstance(llm, DecodesGrammar) else None
        finally:
            llm.close()
    except HeronError as exc:
        return Check("tool format", "problem", getattr(exc, "problem", str(exc)), getattr(exc, "hint", ""))
    detail = f"{chosen.name} (agent.tool_format = {setting!r})"
    if isinstance(chosen, GenericFormat) and declared is not None and setting == "auto":
        detail += f"; the chat template declares {declared.label} calls, but the model does not write them"
    elif isinstance(chosen, GenericFormat) and setting == "auto":
        detail += "; the model's chat template declares no tool-call syntax heron knows"
    return Check("tool format", "ok", detail, fix)


def _check_embedding(settings: Settings) -> Check:
    try:
        model = settings.embedding_model_path()
    except HeronError as exc:
        return Check(
            "embeddings", "problem", str(getattr(exc, "problem", exc)), getattr(exc, "hint", "") or ""
        )
    if Path(model).exists():
        return Check("embeddings", "ok", f"{model} (sentence-transformers, loaded offline)")
    return Check(
        "embeddings",
        "warn",
        f"{model!r} is not a local folder",
        "heron never downloads models: set HERON_EMBEDDING_MODEL to a local model folder",
    )


def _check_image_model(settings: Settings) -> Check:
    """The generate_image tool's model: configured or not, a real diffusers folder, the device it gets."""
    import importlib.util

    from heron.tools.image.pipeline import CONFIGURE_HINT, INSTALL_HINT, check_model_folder

    image = settings.image
    if image.model_path is None:
        return Check("image model", "ok", "none configured (generate_image is off)", CONFIGURE_HINT)
    try:
        folder = check_model_folder(image.model_path)
    except HeronError as exc:
        return Check("image model", "problem", str(getattr(exc, "problem", exc)), getattr(exc, "hint", ""))
    if importlib.util.find_spec("diffusers") is None:
        return Check("image model", "problem", f"{folder}, but diffusers is not installed", INSTALL_HINT)
    import torch  # installed with sentence-transformers

    device: str = image.device
    if device == "auto":
        device = "cuda (auto)" if torch.cuda.is_available() else "cpu (auto: torch sees no CUDA GPU)"
    return Check(
        "image model",
        "ok",
        f"{folder}; device {device}; dtype {image.dtype}; GPU sharing {image.gpu_sharing}",
    )


def _check_chroma(settings: Settings) -> Check:
    if settings.chroma.mode == "embedded":
        where = settings.chroma_path()
        blocked = next((p for p in (where, *where.parents) if p.exists() and not p.is_dir()), None)
        if blocked is not None:  # (the data dir's own check says what to set)
            return Check(
                "chroma", "problem", f"embedded database at {where}: {blocked} is a file, not a folder"
            )
        return Check("chroma", "ok", f"embedded database at {where}")
    url = f"http://{settings.chroma.host}:{settings.chroma.port}/api/v2/heartbeat"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            resp.read()
        return Check("chroma", "ok", f"server at {settings.chroma.host}:{settings.chroma.port} answers")
    except OSError as exc:
        return Check(
            "chroma",
            "problem",
            f"server at {settings.chroma.host}:{settings.chroma.port} does not answer ({exc})",
            f"start it: chroma run --host {settings.chroma.host} --port {settings.chroma.port} "
            "--path DIR, or set HERON_CHROMA__MODE=embedded",
        )


def _check_model_server(settings: Settings) -> list[Check]:
    """The HTTP model backend (``llm_base_url``), when one is set: it must list its models."""
    if not settings.llm_base_url:
        return []
    request = urllib.request.Request(f"{settings.llm_base_url}/models")
    if settings.llm_api_key:
        request.add_header("Authorization", f"Bearer {settings.llm_api_key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            listed = [m.get("id", "?") for m in json.loads(resp.read()).get("data", [])]
    except (OSError, ValueError) as exc:
        return [
            Check(
                "model server",
                "problem",
                f"{settings.llm_base_url} does not list its models ({exc})",
                "start it (python -m heron.llm.serve --model FILE.gguf --port 8080) "
                "or unset HERON_LLM_BASE_URL",
            )
        ]
    return [Check("model server", "ok", f"{settings.llm_base_url} serves {', '.join(listed) or 'no model'}")]


def _check_run_store(settings: Settings) -> Check:
    from heron.agents.run_store import RunStore, describe_location

    try:
        with RunStore.from_settings(settings) as store:
            where = describe_location(store.url)
            runs = store.count_runs()
            migrations = len(store.applied_migrations())
    except HeronError as exc:
        return Check(
            "run store", "problem", getattr(exc, "problem", str(exc)), getattr(exc, "hint", "") or ""
        )
    return Check("run store", "ok", f"{where} ({runs} runs, schema at migration {migrations})")


def _check_cluster(settings: Settings) -> Check:
    """The Ray cluster of HERON_RAY_ADDRESS, when set: its nodes, CPUs and GPUs, and a run store that
    every node can reach."""
    address = os.environ.get("HERON_RAY_ADDRESS")
    if not address:
        return Check(
            "cluster",
            "ok",
            "not used (heron run --cluster ADDRESS, or HERON_RAY_ADDRESS; docs/scale.md)",
        )
    try:
        import ray
    except ImportError:
        return Check(
            "cluster",
            "problem",
            "HERON_RAY_ADDRESS is set but Ray is not installed",
            "pip install 'heron[cluster]'",
        )
    from heron.agents.cluster import check_reachable, route_cluster_notices
    from heron.agents.run_store import configured_store_url

    try:
        check_reachable(address)
        route_cluster_notices(logging.getLogger("heron.cluster").info)  # not on stdout (--json)
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        resources = ray.cluster_resources()
    except Exception as exc:  # Ray raises several kinds here; each is a problem line
        text = getattr(exc, "problem", None) or str(exc).splitlines()[0][:200]
        return Check(
            "cluster",
            "problem",
            f"cannot connect to the Ray cluster at {address}: {text}",
            "start one with `ray start --head` and set HERON_RAY_ADDRESS to its host:port",
        )
    finally:
        if ray.is_initialized():
            ray.shutdown()
    hosts = {n.get("NodeManagerAddress") for n in nodes}
    detail = (
        f"{address}: {len(nodes)} nodes on {len(hosts)} machine{'' if len(hosts) == 1 else 's'}, "
        f"{resources.get('CPU', 0):g} CPUs, "
        f"{resources.get('GPU', 0):g} GPUs"
    )
    if len(hosts) > 1 and configured_store_url(settings).startswith("sqlite"):
        return Check(
            "cluster",
            "problem",
            detail + "; the run store is a SQLite file, which workers on several machines cannot share "
            "(`heron run --cluster` refuses it)",
            "set run_store to a postgresql:// URL so that any node can resume any run (docs/scale.md)",
        )
    return Check("cluster", "ok", detail)


def _check_mcp_servers(settings: Settings) -> list[Check]:
    """Each configured MCP server started and listed (then stopped); none configured: no line."""
    from heron.tools.mcp import MCPToolset

    checks = []
    for name, spec in settings.mcp.servers.items():
        with MCPToolset(name, spec) as toolset:
            try:
                tools = toolset.tools()
            except HeronError as exc:
                checks.append(
                    Check(
                        f"mcp {name}",
                        "problem",
                        str(getattr(exc, "problem", exc)),
                        f"check [mcp.servers.{name}] in heron.toml",
                    )
                )
                continue
        names = ", ".join(t.name for t in tools) or "no tools"
        left_out = f"; left out: {'; '.join(toolset.skipped)}" if toolset.skipped else ""
        status: Status = "warn" if toolset.skipped else "ok"
        checks.append(
            Check(f"mcp {name}", status, f"{spec.describe()}: {len(tools)} tools ({names}){left_out}")
        )
    return checks


def _check_data_dir(settings: Settings) -> Check:
    path = settings.data_dir.expanduser()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_dir() and _writable(probe):
        return Check("data dir", "ok", f"{path}" + ("" if path.exists() else " (created on first use)"))
    if probe.exists() and not probe.is_dir():
        what = f"{path} is a file, not a folder" if probe == path else f"{probe}, part of {path}, is a file"
        return Check("data dir", "problem", what, "set HERON_DATA_DIR to a folder (or a path to create)")
    return Check("data dir", "problem", f"{path} is not writable", "set HERON_DATA_DIR to a writable folder")


def _writable(path: Path) -> bool:
    import os

    return os.access(path, os.W_OK | os.X_OK)


def _check_sandbox(settings: Settings) -> Check:
    """Starts a real sandbox and runs one cell (heron.tools.sandbox.self_check)."""
    from heron.tools.sandbox import self_check

    result = self_check(settings)
    return Check("sandbox", result.status, result.detail, result.fix)


def _check_config_files(settings: Settings) -> list[Check]:
    from heron.config import unknown_variables

    if settings.config_files:
        checks = [Check("config", "ok", "read " + ", ".join(str(p) for p in settings.config_files))]
    else:
        checks = [Check("config", "ok", "no heron.toml found; defaults and HERON_* variables in use")]
    fix = "rename or unset the variable"
    return checks + [Check("environment", "warn", line, fix) for line in unknown_variables()]
