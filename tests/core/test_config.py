from __future__ import annotations

from pathlib import Path

import pytest

from heron.bundled import bundled_embedding_path, bundled_gguf_path
from heron.config import load_settings
from heron.errors import ConfigError, ModelLoadError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_are_the_embedded_ones(isolated_heron: Path) -> None:
    settings = load_settings()
    assert settings.model_path is None
    assert settings.llm_model_path() == bundled_gguf_path()
    assert settings.embedding_model_path() == str(bundled_embedding_path())
    assert settings.chroma.mode == "embedded"
    assert settings.chroma_path() == settings.data_dir / "chroma"
    assert settings.gpu_layers == "auto"
    assert settings.config_files == []


def test_project_file_overrides_user_file_and_default(isolated_heron: Path) -> None:
    user = _write(Path.home() / "config" / "heron" / "heron.toml", "context_size = 1024\nthreads = 1\n")
    project = _write(isolated_heron / "heron.toml", "context_size = 2048\n[sandbox]\nmemory_mb = 300\n")
    settings = load_settings()
    assert settings.context_size == 2048  # project beats user
    assert settings.threads == 1  # user beats default
    assert settings.sandbox.memory_mb == 300
    assert settings.sandbox.cpu_seconds == 30  # default kept inside a partly set group
    assert settings.config_files == [user, project]


def test_environment_overrides_file(isolated_heron: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(isolated_heron / "heron.toml", "context_size = 2048\n[chroma]\nport = 9000\n")
    monkeypatch.setenv("HERON_CONTEXT_SIZE", "512")
    monkeypatch.setenv("HERON_CHROMA__PORT", "9100")
    settings = load_settings()
    assert settings.context_size == 512
    assert settings.chroma.port == 9100


def test_code_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERON_CONTEXT_SIZE", "512")
    assert load_settings(context_size=1024).context_size == 1024


def test_explicit_config_file_replaces_the_others(
    isolated_heron: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(isolated_heron / "heron.toml", "context_size = 2048\n")
    other = _write(isolated_heron / "elsewhere" / "my.toml", "context_size = 768\n")
    monkeypatch.setenv("HERON_CONFIG", str(other))
    settings = load_settings()
    assert settings.context_size == 768
    assert settings.config_files == [other]


def test_bad_value_names_key_value_and_allowed_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERON_SANDBOX__MEMORY_MB", "lots")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "sandbox.memory_mb" in text
    assert "'lots'" in text
    assert "valid integer" in text
    assert "HERON_SANDBOX__MEMORY_MB" in text


def test_bad_value_in_file_and_union_field(isolated_heron: Path) -> None:
    _write(isolated_heron / "heron.toml", 'gpu_layers = "many"\n[chroma]\nmode = "cloud"\n')
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "`gpu_layers` = 'many'" in text and "'auto'" in text
    assert "`chroma.mode` = 'cloud'" in text and "'embedded' or 'server'" in text
    assert str(isolated_heron / "heron.toml") in text


def test_unknown_key_is_rejected(isolated_heron: Path) -> None:
    _write(isolated_heron / "heron.toml", 'modle_path = "x.gguf"\n')
    with pytest.raises(ConfigError, match="unknown key"):
        load_settings()


def test_toml_syntax_error_names_file(isolated_heron: Path) -> None:
    bad = _write(isolated_heron / "heron.toml", "context_size = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_settings()
    assert str(bad) in str(err.value)


def test_missing_model_path_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HERON_MODEL_PATH", str(tmp_path / "nope.gguf"))
    settings = load_settings()
    with pytest.raises(ModelLoadError) as err:
        settings.llm_model_path()
    assert "nope.gguf" in str(err.value)
    assert err.value.hint and "HERON_MODEL_PATH" in err.value.hint


def test_bad_value_from_a_file_names_the_last_file_that_set_it(isolated_heron: Path) -> None:
    _write(Path.home() / "config" / "heron" / "heron.toml", "[sandbox]\nmemory_mb = 10\n")
    project = _write(isolated_heron / "heron.toml", "[sandbox]\nmemory_mb = 20\n")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert f"`sandbox.memory_mb` = 20 (in {project})" in text
    assert "environment" not in text


def test_bad_value_from_the_user_file_names_it(isolated_heron: Path) -> None:
    user = _write(Path.home() / "config" / "heron" / "heron.toml", "context_size = 1\n")
    _write(isolated_heron / "heron.toml", "threads = 2\n")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert f"`context_size` = 1 (in {user})" in str(err.value)


def test_bad_value_from_the_environment_names_the_variable(
    isolated_heron: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(isolated_heron / "heron.toml", "[sandbox]\nmemory_mb = 512\n")
    monkeypatch.setenv("HERON_SANDBOX__MEMORY_MB", "10")  # the environment wins over the file
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "`sandbox.memory_mb` = '10' (environment variable HERON_SANDBOX__MEMORY_MB)" in text
    assert f"in {isolated_heron / 'heron.toml'}" not in text


def test_unknown_key_names_its_file(isolated_heron: Path) -> None:
    project = _write(isolated_heron / "heron.toml", "[evals]\ndata = 'x'\n")
    with pytest.raises(ConfigError, match="unknown key") as err:
        load_settings()
    assert f"`evals.data` = 'x' (in {project})" in str(err.value)


def test_eval_data_dir_is_a_setting(isolated_heron: Path) -> None:
    assert load_settings().evals.data_dir == Path("../shared/data")
    _write(isolated_heron / "heron.toml", '[evals]\ndata_dir = "~/eval-data"\n')
    assert load_settings().evals.data_dir == Path("~/eval-data")


@pytest.mark.parametrize("name", ["a..b", "-notes", "ab", "notes!"])
def test_one_collection_name_rule_for_settings_and_vector_memory(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heron.errors import UsageError
    from heron.memory.vector_memory import validate_collection_name

    monkeypatch.setenv("HERON_MEMORY__COLLECTION", name)
    with pytest.raises(ConfigError, match="invalid collection name") as err:
        load_settings()
    assert "memory.collection" in str(err.value)
    with pytest.raises(UsageError, match="invalid collection name"):
        validate_collection_name(name)
    assert validate_collection_name("heron_notes.v2") == "heron_notes.v2"
