"""Settings: defaults < user ``heron.toml`` < project ``heron.toml`` < ``HERON_*`` environment < code.

Top-level keys are the ones people change most (``model_path``, ``context_size``, ...); groups
(``[chroma]``, ``[sandbox]``, ``[image]``, ...) nest, and their environment names use a double underscore:
``HERON_SANDBOX__MEMORY_MB=512``. Example ``heron.toml``::

    model_path = "~/models/qwen2.5-3b-instruct-q4_k_m.gguf"
    gpu_layers = "auto"

    [chroma]
    mode = "server"
    port = 8000
"""

from __future__ import annotations

import os
import re
import tomllib
import warnings
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from heron.bundled import INSTALL_HINT, bundled_embedding_path
from heron.errors import ConfigError, ModelLoadError, SettingsWarning
from heron.models import DEFAULT_MODEL, default_models_dir, resolve_model

CONFIG_FILE_NAME = "heron.toml"
CONFIG_ENV = "HERON_CONFIG"  # an explicit config file; replaces the project and user files


_COLLECTION_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")
COLLECTION_NAME_RULE = (
    "use 3-512 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
)


def collection_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid Chroma collection name (3-512 of [a-zA-Z0-9._-], starting and
    ending with a letter or digit, no ".."), or None when it is. The one rule for settings and for
    ``VectorMemory(collection=...)``."""
    if not _COLLECTION_NAME.fullmatch(name) or ".." in name:
        return f"invalid collection name {name!r}"
    return None


def _valid_collection(name: str) -> str:
    problem = collection_name_problem(name)
    if problem:
        raise ValueError(f"{problem}: {COLLECTION_NAME_RULE}")
    return name


CollectionName = Annotated[str, AfterValidator(_valid_collection)]


class ChromaSettings(BaseModel):
    """Where vector memory lives: an embedded database under the data dir, or a ``chroma run`` server."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["embedded", "server"] = "embedded"
    path: Path | None = Field(None, description="embedded database folder; default <data_dir>/chroma")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)


class MemorySettings(BaseModel):
    """Vector memory: collection names, chunking, the embedding backend and redaction before storage."""

    model_config = ConfigDict(extra="forbid")

    collection: CollectionName = Field("heron", description="collection of ingested documents")
    conversation_collection: CollectionName = Field(
        "heron_conversation", description="collection of turns and task outcomes"
    )
    chunk_size: int = Field(1000, ge=100, le=20_000, description="characters per chunk")
    chunk_overlap: int = Field(100, ge=0, description="characters shared by neighbouring chunks")
    # onnx-int8 is the default because it keeps recall within a point of torch on the HaluEval
    # retrieval benchmark (see BENCHMARKS.md, "Memory and ingestion") at about twice the speed.
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8", description="onnx-int8 (quantized, fastest), onnx (same vectors as torch), torch"
    )
    embedding_batch_size: int = Field(32, ge=1, le=4096, description="texts per encoder call")
    passages_per_search: int = Field(
        8,
        ge=1,
        le=50,
        description="passages one retrieve call returns (the model picks the query); none when the "
        "relevance check (check_relevance) judges none of them relevant",
    )
    redact_personal_data: bool = Field(
        False, description="mask emails, phone and card numbers, API keys before text is stored"
    )
    check_relevance: bool | None = Field(
        None,
        description="before retrieve returns its passages, ask the agent's model, passage by passage in "
        "rank order, whether it is relevant to the query (its Yes-bias for the query, measured on the "
        "content-free passages 'N/A', '' and '[MASK]', divided out); when none is, retrieve returns "
        "none and says nothing in the documents is about it. None (default): on for local models of "
        "1B weights or more, off for smaller ones, servers and tools called without an agent",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> MemorySettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be below chunk_size ({self.chunk_size})"
            )
        return self


class SandboxSettings(BaseModel):
    """Limits for the code-execution sandbox (one per session, like a notebook kernel)."""

    model_config = ConfigDict(extra="forbid")

    cpu_seconds: int = Field(30, ge=1, description="CPU time per cell")
    wall_seconds: float = Field(60.0, gt=0, description="wall-clock time per cell")
    memory_mb: int = Field(
        1024, ge=64, description="address space per process; also the whole sandbox, by cgroup where writable"
    )
    max_processes: int = Field(64, ge=4, description="processes and threads inside the sandbox")
    max_file_mb: int = Field(64, ge=1, description="largest file a cell may write")
    max_open_files: int = Field(256, ge=32)
    workspace_max_mb: int = Field(256, ge=1, description="all files in the workspace together")
    workspace_max_files: int = Field(10_000, ge=10, description="files and folders in the workspace")
    tmp_mb: int = Field(64, ge=1, description="size of the sandbox's private /tmp (and of /dev/shm)")
    output_max_chars: int = Field(20_000, ge=200, description="captured output kept per cell")
    start_timeout_seconds: float = Field(30.0, gt=0, description="time a new sandbox has to answer")
    python: Path | None = Field(
        None, description="Python run inside the sandbox; default: the interpreter running heron"
    )
    share_site_packages: bool = Field(
        True, description="show the installed packages (numpy, matplotlib, ...) read-only in the sandbox"
    )
    unsafe_no_sandbox: bool = Field(
        False, description="run model-written code directly on the host. Dangerous: only for debugging."
    )
    unsafe_no_seccomp: bool = Field(
        False,
        description="no system-call filter in the sandbox: keyctl, ptrace, bpf, ... reach the kernel. "
        "Dangerous: only for debugging.",
    )


# how an agent's turns are written: see heron.llm.tool_formats and heron.agents.turn_formats
ToolFormatName = Literal["auto", "generic", "hermes", "llama3", "mistral"]


class AgentSettings(BaseModel):
    """Default budgets for agent runs (a task file or the SDK can override them), and how the model
    writes its turns."""

    model_config = ConfigDict(extra="forbid")

    tool_format: ToolFormatName = Field(
        "auto",
        description="'auto': the model's own tool-call syntax when its chat template has one (Qwen2.5: "
        "hermes), else heron's generic JSON action; or name one ('generic', 'hermes', 'llama3', 'mistral')",
    )
    max_steps: int = Field(12, ge=1)
    max_tokens: int = Field(20_000, ge=64, description="tokens the model may generate in one run")
    max_seconds: float = Field(600.0, gt=0)


class ImageSettings(BaseModel):
    """The ``generate_image`` tool: a local diffusers model folder and how to run it."""

    model_config = ConfigDict(extra="forbid")

    model_path: Path | None = Field(
        None,
        description="diffusers text-to-image model folder (has model_index.json), e.g. SD-Turbo; "
        "unset = no image generation",
    )
    device: Literal["auto", "cuda", "cpu", "mps"] = Field(
        "auto", description="'auto' = CUDA when torch sees a GPU, else Apple MPS, else CPU"
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        "auto", description="'auto' = float16 on a GPU, float32 on the CPU"
    )
    steps: int | None = Field(
        None,
        ge=1,
        le=200,
        description="denoising steps, and the most one call may ask for; "
        "default 4 for turbo/LCM models, else 25",
    )
    guidance: float | None = Field(
        None, ge=0.0, le=30.0, description="classifier-free guidance; default 0 for turbo/LCM, else 7.5"
    )
    width: int = Field(
        512,
        ge=64,
        le=2048,
        multiple_of=8,
        description="image width (pixels), and the widest one call may ask for",
    )
    height: int = Field(
        512,
        ge=64,
        le=2048,
        multiple_of=8,
        description="image height (pixels), and the tallest one call may ask for",
    )
    max_variations: int = Field(4, ge=1, le=16, description="most images one call may ask for")
    output_dir: str = Field("images", description="folder inside the workspace for generated PNGs")
    gpu_sharing: Literal["swap", "keep"] = Field(
        "swap",
        description="'swap' = the LLM leaves the GPU during a diffusion run and the pipeline leaves it "
        "after; 'keep' = both stay (enough VRAM for both)",
    )
    c2pa_cert: Path | None = Field(
        None, description="PEM certificate chain for signed C2PA manifests (needs c2pa-python)"
    )
    c2pa_key: Path | None = Field(None, description="PEM private key matching c2pa_cert")


class EvalSettings(BaseModel):
    """``heron eval``: where the public benchmark data lives."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(
        Path("../shared/data"),
        description="folder holding bbq/, halueval/ and truthfulqa/ (a relative path starts at the "
        "current dir, or where it is not found there, at the heron checkout in use); --data overrides it",
    )


_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class MCPServerSettings(BaseModel):
    """One MCP server whose tools heron's agents may call: a command heron starts (stdio) or a URL
    (streamable HTTP, or SSE for older servers). Its tools' descriptions are the server's words:
    shown to the model as data, never read as policy. A tool marked read-only by the server runs
    without asking; every other one asks first, unless ``allow`` names it."""

    model_config = ConfigDict(extra="forbid")

    command: str | None = Field(None, description="program to start (stdio), e.g. 'mcp-server-time'")
    args: list[str] = Field(default_factory=list, description="its arguments")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables for it")
    cwd: Path | None = Field(None, description="folder it starts in (default: the current one)")
    url: str | None = Field(None, description="server address, e.g. 'http://127.0.0.1:8000/mcp'")
    transport: Literal["stdio", "streamable-http", "sse"] | None = Field(
        None, description="default: 'stdio' with a command, 'streamable-http' with a url"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers (e.g. Authorization)")
    prefix: str = Field("", description="put before each tool's name, e.g. 'git_' (names must be unique)")
    allow: list[str] = Field(
        default_factory=list, description="tools (names as the server gives them) that run without asking"
    )
    trust_read_only: bool = Field(
        True, description="a tool the server marks read-only (readOnlyHint) runs without asking"
    )
    timeout_seconds: float = Field(60.0, gt=0, description="longest one tool call may take")
    start_seconds: float = Field(30.0, gt=0, description="time the server has to start and list its tools")

    @model_validator(mode="after")
    def _one_address(self) -> MCPServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (a program heron starts) or `url` (a running server)")
        if self.command is not None and self.transport not in (None, "stdio"):
            raise ValueError(f"transport {self.transport!r} needs a `url`, not a `command`")
        if self.url is not None:
            if self.transport == "stdio":
                raise ValueError("transport 'stdio' needs a `command`, not a `url`")
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("`url` must start with http:// or https://")
        return self

    @property
    def kind(self) -> Literal["stdio", "streamable-http", "sse"]:
        if self.transport is not None:
            return self.transport
        return "stdio" if self.command is not None else "streamable-http"

    def describe(self) -> str:
        """Where the server is, in a few words: the command line or the URL."""
        if self.command is not None:
            return " ".join([self.command, *self.args])
        return f"{self.url} ({self.kind})"


def _valid_server_names(servers: dict[str, MCPServerSettings]) -> dict[str, MCPServerSettings]:
    for name in servers:
        if not _SERVER_NAME.fullmatch(name):
            raise ValueError(f"MCP server name {name!r}: use 1-64 letters, digits, '_' or '-'")
    return servers


def _valid_profile_names(profiles: dict[str, ServeProfile]) -> dict[str, ServeProfile]:
    for name in profiles:
        if not _SERVER_NAME.fullmatch(name):
            raise ValueError(f"profile name {name!r}: use 1-64 letters, digits, '_' or '-'")
    return profiles


class MCPSettings(BaseModel):
    """MCP servers (``[mcp.servers.NAME]``) whose tools ``heron chat`` offers and task files can name."""

    model_config = ConfigDict(extra="forbid")

    servers: Annotated[dict[str, MCPServerSettings], AfterValidator(_valid_server_names)] = Field(
        default_factory=dict, description="by name: command/args/env or url/headers, see docs/mcp.md"
    )


class ServeProfile(BaseModel):
    """An agent ``heron serve`` offers as a "model" (``[serve.profiles.NAME]``): which model it runs,
    its tools, memory and budgets."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="a model name or GGUF path; default: the `model` setting")
    tools: list[str] = Field(
        default_factory=lambda: ["calculator", "python", "read_file", "write_file", "list_files"],
        description="built-in tools by name (calculator, python, read_file, write_file, list_files, "
        "generate_image); `retrieve` is added when memory is set",
    )
    memory: CollectionName | None = Field(
        None, description="a Chroma collection to retrieve from (adds the retrieve tool); none: no memory"
    )
    instructions: str = Field("", description="added to the system prompt")
    require_citations: bool = Field(
        False, description="answers must cite a retrieved passage (the model retrieves before it answers)"
    )
    allow: list[str] = Field(
        default_factory=list,
        description="risky tools that run without asking; others wait for a decision from the page (a "
        "request that asks for approvals) or are denied",
    )
    max_steps: int | None = Field(None, ge=1, description="default: agent.max_steps")
    max_tokens: int | None = Field(None, ge=64, description="default: agent.max_tokens")
    max_seconds: float | None = Field(None, gt=0, description="default: agent.max_seconds")
    token_logprobs: bool = Field(
        True, description="record each token's probability for the page's confidence view (slower turns)"
    )


class ServeSettings(BaseModel):
    """``heron serve``: the agents it offers (``[serve.profiles.NAME]``; none: one named "heron" with the
    configured model, the built-in tools and the memory collection) and how long a risky call waits."""

    model_config = ConfigDict(extra="forbid")

    profiles: Annotated[dict[str, ServeProfile], AfterValidator(_valid_profile_names)] = Field(
        default_factory=dict, description="by name: model, tools, memory, budgets; see docs/serve.md"
    )
    approval_seconds: float = Field(
        300.0, gt=0, description="how long a risky call waits for a decision before it is denied"
    )


class ClusterSettings(BaseModel):
    """The worker pool of ``heron run --cluster ADDRESS`` and ``heron eval --cluster ADDRESS`` (the
    address of a Ray cluster, or HERON_RAY_ADDRESS); see docs/scale.md."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1, description="worker actors, each with the model loaded once")
    worker_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves for each worker")
    worker_gpus: float | Literal["auto"] = Field(
        "auto",
        description="GPUs per worker; 'auto' = 1 when the model is local and the cluster has a GPU for "
        "every worker, else 0",
    )
    shared_dir: Path | None = Field(
        None,
        description="a folder every node reaches at the same path (NFS, ...): the workers' data dir "
        "(workspaces, traces, KV states); default: data_dir",
    )
    retries: int = Field(
        3, ge=0, description="how often a task file or chunk of eval items is retried after its worker died"
    )


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("heron", appauthor=False))


class Settings(BaseSettings):
    """All of heron's settings. Build with :func:`load_settings`, which reads the config files."""

    model_config = SettingsConfigDict(
        env_prefix="HERON_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    model: str = Field(
        DEFAULT_MODEL,
        description="planner LLM: a known name (qwen2.5-coder-1.5b, smollm2-135m; see `heron models`) "
        "or the path of a GGUF file",
    )
    model_path: Path | None = Field(
        None, description="GGUF file of the planner LLM; when set it wins over `model`"
    )
    models_dir: Path = Field(
        default_factory=default_models_dir, description="where named models are assembled (`heron models`)"
    )
    context_size: int = Field(
        8192,
        ge=256,
        description="tokens; capped by the model's trained context. The KV cache holds it twice: the "
        "conversation, and the prompts heron scores beside it (about 230 MB each for the default "
        "model at 8192)",
    )
    gpu_layers: int | Literal["auto"] = Field(
        "auto", description="'auto' = all when llama.cpp has GPU offload"
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads for llama.cpp; default: one per physical core to decode (as llama.cpp "
        "picks), every CPU for prompts",
    )
    seed: int = Field(0, description="sampling seed, for repeatable runs")
    lora_path: Path | None = Field(None, description="GGUF LoRA adapter applied on top of the model")
    lora_scale: float = Field(
        1.0, ge=-8.0, le=8.0, description="strength of the LoRA adapter (1.0 = as trained)"
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible server (e.g. http://127.0.0.1:8080/v1); when set, no local model"
    )
    llm_api_key: str | None = Field(
        None, description="bearer token for llm_base_url, if the server needs one"
    )
    llm_model_name: str | None = Field(
        None, description="model name sent to llm_base_url; default: its first"
    )
    embedding_model: str | None = Field(
        None, description="sentence-transformers model folder; default: bundled all-MiniLM-L6-v2"
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="runs, traces, Chroma, history")
    run_store: str | None = Field(
        None,
        description="where task runs are stored: a postgresql://USER@HOST:PORT/DB URL (shared by a "
        "cluster's nodes) or a SQLite file; default <data_dir>/runs.sqlite3",
    )
    otel: bool = Field(
        False,
        description="also export run traces as OpenTelemetry spans (heron[otel]; OTEL_* variables "
        "name the collector)",
    )
    chroma: ChromaSettings = Field(default_factory=lambda: ChromaSettings())
    memory: MemorySettings = Field(default_factory=lambda: MemorySettings())
    sandbox: SandboxSettings = Field(default_factory=lambda: SandboxSettings())
    agent: AgentSettings = Field(default_factory=lambda: AgentSettings())
    image: ImageSettings = Field(default_factory=lambda: ImageSettings())
    evals: EvalSettings = Field(default_factory=lambda: EvalSettings())
    mcp: MCPSettings = Field(default_factory=lambda: MCPSettings())
    serve: ServeSettings = Field(default_factory=lambda: ServeSettings())
    cluster: ClusterSettings = Field(default_factory=lambda: ClusterSettings())

    config_files: list[Path] = Field(default_factory=list, exclude=True, description="files read, in order")

    def llm_model_path(self) -> Path:
        """The GGUF to load: ``model_path`` if set, else ``model`` (a known name or a path).

        Raises ModelLoadError (what is missing, how to get it) when the file is not there."""
        if self.model_path is not None:
            path = self.model_path.expanduser()
            if not path.is_file():
                raise ModelLoadError(
                    f"model file not found: {path}",
                    "give the path of an existing .gguf file where this one was given (the model argument "
                    "of Agent or --model, HERON_MODEL_PATH, or model_path in heron.toml), or leave it out "
                    f"to use `model` ({self.model})",
                )
            return path
        return resolve_model(self.model, self.models_dir)

    def llm_lora_path(self) -> Path | None:
        """The LoRA adapter to apply, or None. Raises if ``lora_path`` is set but missing."""
        if self.lora_path is None:
            return None
        path = self.lora_path.expanduser()
        if not path.is_file():
            raise ModelLoadError(
                f"LoRA adapter not found: {path}",
                "set HERON_LORA_PATH (or lora_path in heron.toml) to an existing GGUF LoRA file, or unset it",
            )
        return path

    def embedding_model_path(self) -> str:
        """The sentence-transformers model to load: ``embedding_model`` if set, else the bundled one."""
        if self.embedding_model:
            return (
                str(Path(self.embedding_model).expanduser())
                if _looks_like_path(self.embedding_model)
                else (self.embedding_model)
            )
        bundled = bundled_embedding_path()
        if bundled is None:
            raise ModelLoadError(
                "the bundled all-MiniLM-L6-v2 embedding model is not installed", INSTALL_HINT
            )
        return str(bundled)

    def chroma_path(self) -> Path:
        return (self.chroma.path or self.data_dir / "chroma").expanduser()

    @field_validator("run_store")
    @classmethod
    def _check_run_store(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if "://" in value and not value.startswith(
            ("postgresql://", "postgres://", "postgresql+", "sqlite:")
        ):
            raise ValueError(
                "must be a postgresql://USER@HOST:PORT/DATABASE URL or the path of a SQLite file"
            )
        return value

    @field_validator("llm_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (for example http://127.0.0.1:8080/v1)")
        return value

    @field_validator("lora_path")
    @classmethod
    def _check_lora_suffix(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() != ".gguf":
            raise ValueError(
                "must be a .gguf LoRA adapter (convert it with llama.cpp's convert_lora_to_gguf.py)"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Config files are merged by load_settings and passed as init values with lower priority
        # than the environment; see _FileValues.
        return (init_settings, env_settings, _FileValues(settings_cls))


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "~", ".")) or Path(value).expanduser().exists()


# The merged heron.toml values of the load in progress: per thread and task, so loads never mix.
_FILE_VALUES: ContextVar[dict[str, Any]] = ContextVar("heron_file_values", default={})  # noqa: B039


class _FileValues(PydanticBaseSettingsSource):
    """Values read from heron.toml files, for the load ``load_settings`` is running."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return _FILE_VALUES.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get())


def config_file_candidates(cwd: Path | None = None) -> list[Path]:
    """Config files in increasing priority: user config dir, then project (current) dir."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return [Path(explicit).expanduser()]
    user = Path(platformdirs.user_config_dir("heron", appauthor=False)) / CONFIG_FILE_NAME
    project = (cwd or Path.cwd()) / CONFIG_FILE_NAME
    return [user, project]


def load_settings(cwd: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from files, environment and ``overrides``; invalid values raise ConfigError."""
    merged: dict[str, Any] = {}
    read: list[tuple[Path, dict[str, Any]]] = []
    explicit = bool(os.environ.get(CONFIG_ENV))
    for path in config_file_candidates(cwd):
        if not path.is_file():
            if explicit:
                raise ConfigError(f"config file not found: {path}", f"create it or unset {CONFIG_ENV}")
            continue
        values = _read_toml(path)
        _deep_merge(merged, values)
        read.append((path, values))
    token = _FILE_VALUES.set(merged)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, read, overrides), _CONFIG_HINT) from exc
    finally:
        _FILE_VALUES.reset(token)
    settings.config_files = [path for path, _ in read]
    for line in unknown_variables():
        warnings.warn(line, SettingsWarning, stacklevel=2)  # shown once per line and caller
    return settings


_CONFIG_HINT = "fix the value where it was set (the file or HERON_* variable named above)"

# HERON_* variables read by one command's option rather than by the settings.
COMMAND_VARIABLES = frozenset(
    {CONFIG_ENV, "HERON_RAY_ADDRESS", "HERON_SERVE_TOKEN", "HERON_MCP_TOKEN", "HERON_LLAMA_SERVER"}
)
RESERVED_VARIABLE_PREFIX = "HERON_TEST_"  # heron's own test suite's variables


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A line for each ``HERON_*`` variable that no setting or command reads, naming the closest
    variable that does when one is close: the settings pass over ``HERON_MODLE`` as over any
    environment variable, so without this line a misspelling would go unnoticed."""
    import difflib

    known: list[str] = []  # every name heron reads, built only when a variable needs a guess
    lines = []
    for name in sorted(os.environ if environ is None else environ):
        upper = name.upper()  # pydantic-settings ignores the case
        if not upper.startswith("HERON_") or upper.startswith(RESERVED_VARIABLE_PREFIX):
            continue
        if upper in COMMAND_VARIABLES or not _ignored_by_settings(upper.removeprefix("HERON_").split("__")):
            continue
        known = known or sorted(COMMAND_VARIABLES | set(_setting_variables(Settings)))
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        guess = f"; did you mean {close[0]}?" if close else "; `heron config` lists the settings"
        lines.append(f"{name} is not a heron setting and is ignored{guess}")
    return lines


def _setting_variables(model: type[BaseModel], prefix: str = "HERON_") -> list[str]:
    names = []
    for field, info in model.model_fields.items():
        name = prefix + field.upper()
        names.append(name)
        group = _settings_group(info.annotation)
        if group is not None:
            names.extend(_setting_variables(group, name + "__"))
    return names


def _ignored_by_settings(parts: list[str]) -> bool:
    """Whether pydantic-settings passes over HERON_A__B__C without a word: A is not a setting, or A is
    a single value and the name goes on below it. (A misspelt key inside a group, HERON_IMAGE__WIDHT,
    is already an "unknown key" error of the settings.)"""
    info = Settings.model_fields.get(parts[0].lower())
    if info is None:
        return True
    return len(parts) > 1 and _settings_group(info.annotation) is None


def _settings_group(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the syntax at the line shown") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", "check the file's permissions") from exc


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _describe_validation_error(
    exc: ValidationError, files: list[tuple[Path, dict[str, Any]]], overrides: dict[str, Any]
) -> str:
    # A union field (gpu_layers: int | "auto") reports one error per member: merge them per key.
    problems: dict[str, tuple[object, str, list[str]]] = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("int", "literal[", "function-"))]
        key = ".".join(loc) or "(settings)"
        if err["type"] == "extra_forbidden":
            close = _close_key(loc)
            msg = "unknown key: not a heron setting" + (
                f"; did you mean `{close}`?" if close else " (check the spelling; `heron config` lists them)"
            )
        else:
            msg = err["msg"]
        where = _value_source(loc, files, overrides)
        problems.setdefault(key, (err.get("input"), where, []))[2].append(msg)
    lines = ["invalid heron settings:"]
    for key, (value, where, msgs) in problems.items():
        lines.append(f"  - `{key}` = {value!r} ({where}): " + "; or ".join(msgs))
    if files:
        lines.append("  config files read: " + ", ".join(str(path) for path, _ in files))
    return "\n".join(lines)


def _close_key(loc: list[str]) -> str | None:
    """The setting beside the unknown key at ``loc`` spelt most like it (``agent.max_steps`` for
    ``agent.max_stesp``), or None."""
    import difflib

    group: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        info = group.model_fields.get(part) if group is not None else None
        group = _settings_group(info.annotation) if info is not None else None
    if group is None or not loc:
        return None
    close = difflib.get_close_matches(loc[-1], list(group.model_fields), n=1, cutoff=0.75)
    return ".".join([*loc[:-1], close[0]]) if close else None


def _value_source(loc: list[str], files: list[tuple[Path, dict[str, Any]]], overrides: dict[str, Any]) -> str:
    """Where the setting at ``loc`` came from, checked from the highest priority down."""
    if _has_key(overrides, loc):
        return "passed by the caller"
    env_names = {name.upper() for name in os.environ}  # pydantic-settings ignores the case
    for depth in range(len(loc), 0, -1):  # HERON_SANDBOX__MEMORY_MB, or a whole group as JSON
        name = "HERON_" + "__".join(part.upper() for part in loc[:depth])
        if name in env_names:
            return f"environment variable {name}"
    for path, values in reversed(files):  # the last file that sets it wins
        if _has_key(values, loc):
            return f"in {path}"
    return "default"


def _has_key(values: dict[str, Any], loc: list[str]) -> bool:
    for part in loc:
        if not isinstance(values, dict) or part not in values:
            return False
        values = values[part]
    return bool(loc)
