"""The retrieval corpus shared by the memory benchmarks (not a benchmark itself: no ``bench_`` prefix).

HaluEval QA (500 rows): each ``knowledge`` passage is the gold passage for its ``question``.
Distractors: every distinct ``context`` of the BBQ files. Both from ``../shared/data``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()
HALUEVAL = SHARED_DATA / "halueval" / "qa_one-turn_data.json"
BBQ_FILES = sorted((SHARED_DATA / "bbq").glob("*.jsonl"))


@dataclass(frozen=True)
class RetrievalCorpus:
    passages: list[str]  # gold passages first: passages[i] answers questions[i]
    questions: list[str]

    @property
    def gold_count(self) -> int:
        return len(self.questions)


def load_corpus(distractor_limit: int | None = None) -> RetrievalCorpus:
    rows = [json.loads(line) for line in HALUEVAL.read_text().splitlines() if line.strip()]
    gold = [row["knowledge"] for row in rows]
    seen = set(gold)
    distractors: list[str] = []
    for path in BBQ_FILES:
        for line in path.read_text().splitlines():
            context = json.loads(line)["context"]
            if context not in seen:
                seen.add(context)
                distractors.append(context)
    return RetrievalCorpus(gold + distractors[:distractor_limit], [row["question"] for row in rows])


def write_corpus_files(corpus: RetrievalCorpus, folder: Path) -> list[Path]:
    """One .txt file per passage, the way a user's document folder looks to ``heron ingest``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, text in enumerate(corpus.passages):
        path = folder / f"passage-{i:05d}.txt"
        path.write_text(text + "\n", encoding="utf-8")
        paths.append(path)
    return paths
