"""The four top-level folders install as heron.agents/tools/memory/evals, never as top-level modules."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDERS = {
    "heron": "heron",
    "heron.agents": "agents",
    "heron.tools": "tools",
    "heron.memory": "memory",
    "heron.evals": "evals",
}


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=False)


def test_generic_names_are_not_importable_at_top_level(tmp_path: Path) -> None:
    # cwd outside the checkout, so only what is installed in the venv can be found
    for name in ("agents", "tools", "memory", "evals"):
        result = _python(f"import {name}", tmp_path)
        assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr, name


def test_namespaced_packages_import_from_the_checkout(tmp_path: Path) -> None:
    code = "import heron.agents, heron.tools, heron.memory, heron.evals; print(heron.agents.__file__)"
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == REPO / "agents" / "__init__.py"


def test_every_package_folder_is_declared() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == FOLDERS
    declared = set(config["packages"])
    on_disk = set()
    for package, folder in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            on_disk.add(".".join((package, *rel)))
    assert on_disk == declared


def test_wheel_holds_only_the_heron_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("heron-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"heron", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    for module in (
        "heron/agents/__init__.py",
        "heron/tools/__init__.py",
        "heron/memory/__init__.py",
        "heron/evals/__init__.py",
        "heron/config.py",
        "heron/prompts/chat_system.j2",  # each layer's prompt templates travel with it
        "heron/agents/prompts/agent_system.j2",
        "heron/evals/prompts/eval_bbq.j2",
        "heron/agents/serve/static/index.html",  # the web page ships whole: it loads nothing from elsewhere
        "heron/agents/serve/static/app.js",
        "heron/agents/serve/static/app.css",
    ):
        assert module in names


def _cli_imports() -> dict[str, set[str]]:
    """Each module of heron/cli and the heron.cli modules it imports (anywhere in its body)."""
    imports: dict[str, set[str]] = {}
    for path in (REPO / "heron" / "cli").glob("*.py"):
        module = "heron.cli" if path.stem == "__init__" else f"heron.cli.{path.stem}"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "heron.cli":
                found |= {f"heron.cli.{alias.name}" for alias in node.names}  # submodules or names in it
                found.add("heron.cli")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("heron.cli."):
                found.add(str(node.module))
        imports[module] = {m for m in found if m != module}
    return imports


def test_no_import_cycle_in_the_cli() -> None:
    imports = _cli_imports()

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in imports.get(start, ()):
            if nxt == target or (nxt not in seen and (seen.add(nxt) or reaches(nxt, target, seen))):
                return True
        return False

    cycles = [m for m in imports if reaches(m, m, set())]
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_llm_layer_and_the_step_loop_know_no_agent_policy() -> None:
    """Policies live in agents/policies; the core offers a generic logit-bias hook and the loop a
    generic seam, so neither names a gate, a check, places, fractions or a copy bias."""
    import re

    policy_words = re.compile(r"CopyBias|copy_bias|place_spans|takes_fraction|is_place_argument")
    for path in sorted((REPO / "heron" / "llm").glob("*.py")):
        assert not policy_words.search(path.read_text()), f"{path.name} names an agent policy"
    loop = (REPO / "agents" / "loop.py").read_text()
    for word in ("ToolGate", "FirstCallCheck", "tool_gate", "first_call_check", "copy_bias", "mentioned"):
        assert word not in loop, f"agents/loop.py names {word!r}"
