"""Every example in README.md and docs/ runs as written, and what it prints is checked.

Python blocks run one by one in a fresh interpreter, in a project folder that holds a copy of
``examples/docs/`` as ``notes/``, on the capable default model; each must be followed by one or more
``<!-- expect: REGEX -->`` comments that its output must match. YAML task examples must load as task
files, TOML examples as settings. Console transcripts and shell commands are not run here (the
README's `make demo` and `make test` are run by CI itself).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```[ \t]*\n((?:<!-- expect: .*? -->\n)*)", re.M | re.S)
_EXPECT = re.compile(r"<!-- expect: (.*?) -->")


@dataclass(frozen=True)
class Example:
    document: Path
    line: int
    language: str
    code: str
    expect: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.document.name}:{self.line}"


def examples(language: str) -> list[Example]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for match in _BLOCK.finditer(text):
            if match.group(1) != language:
                continue
            line = text.count("\n", 0, match.start()) + 1
            expect = tuple(_EXPECT.findall(match.group(3)))
            found.append(Example(document, line, match.group(1), match.group(2), expect))
    return found


def test_the_extractor_finds_the_examples() -> None:
    """The collection below is not silently empty: the docs hold python, yaml and toml examples."""
    assert len(examples("python")) >= 5
    assert examples("yaml") and examples("toml")


@pytest.mark.parametrize("example", examples("python"), ids=lambda e: e.id)
def test_every_python_example_says_what_it_prints(example: Example) -> None:
    assert example.expect, f"{example.id}: add <!-- expect: REGEX --> under the block"


@pytest.mark.capable
@pytest.mark.parametrize("example", examples("python"), ids=lambda e: e.id)
def test_python_example_runs_and_prints_the_right_thing(example: Example, isolated_heron: Path) -> None:
    shutil.copytree(REPO / "examples" / "docs", isolated_heron / "notes")
    done = subprocess.run(
        [sys.executable, "-c", example.code],
        cwd=isolated_heron,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{example.id} failed:\n{done.stderr[-3000:]}"
    for pattern in example.expect:
        assert re.search(pattern, done.stdout), f"{example.id}: {pattern!r} not in output:\n{done.stdout}"


@pytest.mark.parametrize("example", examples("yaml"), ids=lambda e: e.id)
def test_yaml_example_is_a_valid_task_file(example: Example, isolated_heron: Path) -> None:
    from heron.agents.tasks import load_task

    (isolated_heron / "docs").mkdir()
    path = isolated_heron / "task.yaml"
    path.write_text(example.code)
    loaded = load_task(path)
    assert loaded.task.goal


@pytest.mark.parametrize("example", examples("toml"), ids=lambda e: e.id)
def test_toml_example_is_valid_settings(example: Example, isolated_heron: Path) -> None:
    from heron.config import load_settings

    (isolated_heron / "heron.toml").write_text(example.code)
    settings = load_settings()
    assert settings.config_files == [isolated_heron / "heron.toml"]
