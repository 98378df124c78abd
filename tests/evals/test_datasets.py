"""Dataset readers: real files load, and malformed lines are reported with file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heron.errors import DatasetError
from heron.evals.datasets import (
    HaluEvalPair,
    bbq_categories,
    load_bbq,
    load_halueval,
    load_truthfulqa,
    resolve_data_root,
    subsample,
)
from tests.conftest import SHARED_DATA

GOOD_PAIR = {"knowledge": "K.", "question": "Q?", "right_answer": "A", "hallucinated_answer": "B"}


def _halueval_dir(tmp_path: Path, lines: list[str]) -> Path:
    folder = tmp_path / "data" / "halueval"
    folder.mkdir(parents=True)
    (folder / "qa_one-turn_data.json").write_text("\n".join(lines) + "\n")
    return tmp_path / "data"


def test_real_files_load_with_their_documented_sizes() -> None:
    bbq = load_bbq(SHARED_DATA)
    assert {c: len(rows) for c, rows in bbq.items()} == {
        "Age": 3680,
        "Disability_status": 1556,
        "Nationality": 3080,
        "Religion": 1200,
    }
    assert len(load_halueval(SHARED_DATA)) == 500
    assert len(load_truthfulqa(SHARED_DATA, limit=5)) == 5


def test_invalid_json_line_names_file_and_line(tmp_path: Path) -> None:
    root = _halueval_dir(tmp_path, [json.dumps(GOOD_PAIR), '{"knowledge": "K", "question": '])
    with pytest.raises(DatasetError) as info:
        load_halueval(root)
    assert f"{root / 'halueval' / 'qa_one-turn_data.json'}:2:" in info.value.problem
    assert "not valid JSON" in info.value.problem
    assert info.value.hint


def test_missing_field_names_file_line_and_field(tmp_path: Path) -> None:
    broken = {k: v for k, v in GOOD_PAIR.items() if k != "right_answer"}
    root = _halueval_dir(tmp_path, [json.dumps(GOOD_PAIR), "", json.dumps(broken)])
    with pytest.raises(DatasetError) as info:
        load_halueval(root)
    assert ":3: malformed HaluEvalPair" in info.value.problem
    assert "right_answer" in info.value.problem


def test_bbq_row_with_bad_label_is_reported(tmp_path: Path) -> None:
    row = json.loads((SHARED_DATA / "bbq" / "Religion.jsonl").open().readline())
    row["label"] = 7
    folder = tmp_path / "bbq"
    folder.mkdir()
    (folder / "Religion.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(DatasetError) as info:
        load_bbq(tmp_path, ["Religion"])
    assert "Religion.jsonl:1: malformed BBQRow" in info.value.problem and "label" in info.value.problem


def test_halueval_dialogue_and_summarization_rows_read_as_pairs() -> None:
    dialogue = HaluEvalPair.model_validate(
        {
            "knowledge": "Iron Man stars Robert Downey Jr.",
            "dialogue_history": "[Human]: Do you like Iron Man?",
            "right_response": "Yes, Robert Downey Jr. is great in it.",
            "hallucinated_response": "Yes, Tom Hanks is great in it.",
        }
    )
    assert dialogue.question == "[Human]: Do you like Iron Man?"
    assert dialogue.hallucinated_answer == "Yes, Tom Hanks is great in it."
    summary = HaluEvalPair.model_validate(
        {"document": "A long article.", "right_summary": "Short.", "hallucinated_summary": "Wrong."}
    )
    assert (summary.knowledge, summary.question, summary.right_answer) == (
        "A long article.",
        "Summarize the document.",
        "Short.",
    )


def test_bbq_categories_are_the_files_in_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "bbq"
    (folder / "unifiedqa_preds").mkdir(parents=True)
    religion = (SHARED_DATA / "bbq" / "Religion.jsonl").open().readline()
    (folder / "Religion.jsonl").write_text(religion)
    (folder / "SES.jsonl").write_text(religion.replace('"Religion"', '"SES"'))
    (folder / "unifiedqa_preds" / "preds_SES.jsonl").write_text(religion)  # predictions: not a category
    assert bbq_categories(tmp_path) == ["Religion", "SES"]
    assert {c: len(rows) for c, rows in load_bbq(tmp_path).items()} == {"Religion": 1, "SES": 1}
    assert list(load_bbq(tmp_path, ["SES"])) == ["SES"]


def test_a_bbq_folder_without_category_files_says_so(tmp_path: Path) -> None:
    (tmp_path / "bbq").mkdir()
    with pytest.raises(DatasetError) as info:
        load_bbq(tmp_path)
    assert f"no BBQ category files (<Category>.jsonl) in {tmp_path / 'bbq'}" in info.value.problem


def test_truthfulqa_item_errors_name_the_item(tmp_path: Path) -> None:
    folder = tmp_path / "truthfulqa"
    folder.mkdir()
    items = [
        {"question": "Q", "mc1_targets": {"a": 1, "b": 0}, "mc2_targets": {"a": 1, "b": 0}},
        {"question": "Q", "mc1_targets": {"a": 1, "b": 1}, "mc2_targets": {"a": 1, "b": 0}},
    ]
    (folder / "mc_task.json").write_text(json.dumps(items))
    with pytest.raises(DatasetError) as info:
        load_truthfulqa(tmp_path)
    assert "mc_task.json: item 2" in info.value.problem and "exactly one true" in info.value.problem


def test_missing_folder_and_file_say_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        resolve_data_root(tmp_path / "nowhere")
    assert "--data" in (info.value.hint or "")
    with pytest.raises(DatasetError, match="not found"):
        load_truthfulqa(tmp_path)


def test_the_default_data_folder_is_found_from_any_current_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newcomer ran `heron eval truthfulqa` in /tmp/newcomer: ../shared/data was looked for in /tmp."""
    monkeypatch.chdir(tmp_path)
    found = resolve_data_root()
    assert found.is_absolute() and (found / "truthfulqa").is_dir()
    assert found.resolve() == (Path(__file__).resolve().parents[2] / "../shared/data").resolve()
    with pytest.raises(DatasetError):  # a relative folder found in neither place is still an error
        resolve_data_root(Path("nowhere/data"))


def test_subsample_is_seeded_and_keeps_order() -> None:
    items = list(range(100))
    first, second = subsample(items, 10), subsample(items, 10)
    assert first == second == sorted(first)
    assert len(set(first)) == 10
    assert subsample(items, None) == items
    with pytest.raises(DatasetError):
        subsample(items, 0)
