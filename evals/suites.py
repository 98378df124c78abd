"""The suites behind ``heron eval``: hallucination, truthfulqa and bias, each returning result tables."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from heron.evals import bbq, detectors, halueval
from heron.evals.datasets import (
    load_bbq,
    load_bbq_predictions,
    load_halueval,
    load_truthfulqa,
    resolve_data_root,
    subsample,
)
from heron.evals.demographics import DECISION_PROMPTS, OPEN_PROMPTS, REPRESENTATION_PROMPTS
from heron.evals.fairness import run_counterfactual
from heron.evals.groundedness import SIMILARITY_WEIGHT, ModelFreeGroundedness
from heron.evals.representation import run_representation
from heron.evals.results import EvalRun, ResultTable, SuiteResult
from heron.evals.session import EvalSession
from heron.evals.truthfulqa import option_logprobs, score_truthfulqa

SUITE_NAMES = ("hallucination", "truthfulqa", "bias")
PAPER_UNIFIEDQA = {  # Parrish et al. (2022), Figure 3, x100: (ambiguous, disambiguated)
    "Age": (29.8, 1.2),
    "Disability_status": (21.2, -1.4),
    "Nationality": (6.0, 1.2),
    "Religion": (14.3, 0.2),
}
AUROC_COLUMNS = [halueval.ALL, halueval.MATCHED]
ABSENT = "baseline: share of words absent from knowledge"
COMBINED = "absent words + answer neg logprob, rank average"
GAIN = "knowledge gain: -(logprob with - without) per word"
_NEAR_CHANCE = 0.1  # a judge below AUROC 0.6 is reported as no better than chance


def hallucination_suite(session: EvalSession) -> SuiteResult:
    """HaluEval: every detector's AUROC next to the trivial baselines, on all and length-matched answers."""
    pairs = load_halueval(session.data_root, session.limit, session.halueval_file)
    cases = halueval.answer_cases(pairs)
    llm, embedder = session.llm, session.embedder
    features = halueval.model_free_features(
        cases, ModelFreeGroundedness(embedder), session.track("model-free")
    )
    scores: dict[str, Sequence[float]] = {
        "baseline: answer length": halueval.length_baseline(cases),
        ABSENT: halueval.absent_token_baseline(cases),
        f"model-free groundedness (w={SIMILARITY_WEIGHT})": features.scores(SIMILARITY_WEIGHT),
    }
    scores.update(detectors.judge_scores(cases, llm, session.track("LLM judge")))
    grounded = detectors.answer_logprobs(cases, llm, session.track("logprob"))
    closed_book = detectors.answer_logprobs(
        cases, llm, session.track("logprob, no knowledge"), knowledge=False
    )
    scores["answer neg logprob per word"] = [-value for value in detectors.per_word(cases, grounded)]
    scores[GAIN] = detectors.knowledge_gain_scores(cases, grounded, closed_book)
    scores[COMBINED] = detectors.rank_average(scores[ABSENT], scores["answer neg logprob per word"])
    own = detectors.sample_own_answers(pairs, llm, session.selfcheck_samples, track=session.track("sampling"))
    scores.update(detectors.selfcheck_scores(cases, own, embedder, llm, session.track("SelfCheck")))
    all_pairs = ResultTable(
        title="HaluEval: AUROC of hallucination detectors",
        rows=halueval.detector_table(cases, scores),
        plot_columns=AUROC_COLUMNS,
        reference=0.5,
        value_range=(0.0, 1.05),
        note="Higher = better at ranking the hallucinated answer above the right one; 0.5 = chance. "
        "The length-matched subset keeps, per answer length in words, as many right as hallucinated answers.",
    )
    tables = [all_pairs, _held_out_table(cases, features)]
    accuracy, uncertainty_rows = detectors.own_answer_uncertainty(pairs, own, embedder)
    tables.append(
        ResultTable(
            title="Own answers: uncertainty as a predictor of wrong answers",
            rows=uncertainty_rows,
            plot_columns=["AUROC (predicts a wrong answer)"],
            reference=0.5,
            value_range=(0.0, 1.05),
            note=f"The model answers each HaluEval question from the knowledge (greedy) and samples "
            f"{session.selfcheck_samples} more answers; accuracy of its greedy answers: "
            f"{accuracy if accuracy is not None else float('nan'):.3f} (every content word of the right "
            "answer present). AUROC is undefined (–) when all answers are right or all wrong.",
        )
    )
    return SuiteResult(
        suite="hallucination",
        seconds=0.0,
        items={"HaluEval pairs": len(pairs)},
        tables=tables,
        notes=_judge_notes(all_pairs, session.model_name()),
    )


def _held_out_table(
    cases: Sequence[halueval.AnswerCase], features: halueval.ModelFreeFeatures
) -> ResultTable:
    half_a, half_b = halueval.halves(cases)
    weight = halueval.fit_similarity_weight(cases, features, half_a)
    scored: dict[str, Sequence[float]] = {
        "baseline: answer length": halueval.length_baseline(cases),
        "baseline: share of words absent from knowledge": halueval.absent_token_baseline(cases),
    }
    if weight is not None:
        scored[f"model-free groundedness (w={weight} fit on half A)"] = features.scores(weight)
        fit = f"from a grid 0, 0.05, ..., 1 (best: {weight}); the figures are on half B only."
    else:
        fit = (
            "from a grid 0, 0.05, ..., 1, but half A had no length-matched answers of both kinds to fit "
            "it on, so the scorer is left out of this table (run more pairs: a larger --limit)."
        )
    return ResultTable(
        title="HaluEval half B (odd positions): model-free scorer with its weight fit on half A",
        rows=halueval.detector_table(cases, scored, half_b),
        plot_columns=AUROC_COLUMNS,
        reference=0.5,
        value_range=(0.0, 1.05),
        note="The similarity weight w is chosen on the length-matched answers of half A (the pairs at even "
        f"positions among those used) {fit}",
    )


def _judge_notes(table: ResultTable, model: str) -> list[str]:
    """Say plainly when the LLM-judged detectors are no better than chance on length-matched answers."""
    judged = {
        name: row[halueval.MATCHED]
        for name, row in table.rows.items()
        if "judge" in name and row[halueval.MATCHED] is not None
    }
    weak = [
        f"{name} {value:.2f}"
        for name, value in judged.items()
        if value is not None and value < 0.5 + _NEAR_CHANCE
    ]
    notes = [
        f"Judge-based scores use {model} as the judge.",
        f"{COMBINED}: validated on HaluEval QA pairs heron never saw, with Qwen2.5-Coder-1.5B (AUROC "
        "0.978 on length-matched answers, against 0.918 for absent words alone); on HaluEval dialogue "
        "neither it nor its parts beat chance (EVALS.md). It ranks short factual answers against their "
        "knowledge; it is not a general detector.",
    ]
    if weak:
        notes.append(
            "At or below chance on length-matched answers: " + "; ".join(weak) + ". This judge cannot tell "
            "grounded from hallucinated answers; a larger model is needed for judge-based scores "
            "(heron eval hallucination --model PATH.gguf)."
        )
    return notes


def truthfulqa_suite(session: EvalSession) -> SuiteResult:
    """TruthfulQA MC1 and MC2 of the model, next to chance."""
    items = load_truthfulqa(session.data_root, session.limit)
    logprobs = session.map(option_logprobs, items, "TruthfulQA")
    in_order = iter(logprobs)  # score_truthfulqa asks for each item's once, in order
    result = score_truthfulqa(items, lambda _: next(in_order))
    chance_mc1 = sum(1 / len(i.mc1_targets) for i in items) / len(items)
    chance_mc2 = sum(sum(i.mc2_targets.values()) / len(i.mc2_targets) for i in items) / len(items)
    rows = {
        session.model_name(): {"MC1": result.mc1, "MC2": result.mc2},
        "uniform chance": {"MC1": chance_mc1, "MC2": chance_mc2},
        "GPT-3 175B (paper)": {"MC1": 0.21, "MC2": 0.33},
    }
    table = ResultTable(
        title="TruthfulQA multiple choice",
        rows=rows,
        plot_columns=["MC1", "MC2"],
        value_range=(0.0, 1.0),
        note="MC1: the true answer has the highest log-probability; MC2: probability mass on true answers. "
        "Options are scored as the assistant's reply to a zero-shot chat prompt (no QA primer).",
    )
    return SuiteResult(
        suite="truthfulqa", seconds=0.0, items={"TruthfulQA questions": len(items)}, tables=[table]
    )


def bias_suite(session: EvalSession) -> SuiteResult:
    """BBQ bias scores, counterfactual fairness and demographic representation of the model."""
    by_category = load_bbq(session.data_root, limit=session.limit)  # every category in the folder
    rows = [row for category_rows in by_category.values() for row in category_rows]
    predictions = session.map(bbq.predict_row, rows, "BBQ")
    scores = bbq.score_bbq(rows, predictions)
    tables = [
        ResultTable(
            title="BBQ bias scores",
            rows={c: scores[c].as_row() for c in by_category if c in scores},
            plot_columns=["s_AMB x100", "s_DIS x100"],
            reference=0.0,
            value_range=(-105.0, 105.0),
            note="Bias scores x100 as in the paper: 0 = no bias, +100 = always the stereotyped answer, "
            "-100 = always the anti-stereotyped one. Answers are picked by option log-probability.",
        )
    ]
    check = _unifiedqa_check(resolve_data_root(session.data_root))
    if check is not None:
        tables.append(check)
    # --limit caps these prompt sets too, so that a quick run stays quick
    fairness = run_counterfactual(
        session.llm,
        session.embedder,
        decision_prompts=subsample(DECISION_PROMPTS, session.limit),
        open_prompts=subsample(OPEN_PROMPTS, session.limit),
        track=session.track("counterfactual"),
    )
    tables.append(
        ResultTable(
            title="Counterfactual fairness",
            rows={d: f.as_row() for d, f in fairness.items()},
            plot_columns=["flip rate", "P(yes) spread", "embedding distance"],
            value_range=(0.0, 1.0),
            note="Prompts that differ only in a demographic term. Flip rate: share of term pairs whose "
            "Yes/No decision differs; P(yes) spread: max - min over terms; embedding distance: mean "
            "1 - cos between greedy answers, the term masked. 0 everywhere = insensitive to the group.",
        )
    )
    representation = run_representation(
        session.llm,
        prompts=subsample(REPRESENTATION_PROMPTS, session.limit),
        track=session.track("representation"),
    )
    tables.append(
        ResultTable(
            title="Demographic representation (HELM style)",
            rows=representation.rows(),
            plot_columns=["TVD from uniform"],
            note="Group words counted in open generations about professions; total variation distance "
            "from a uniform share (0 = balanced, 0.5 = only one of two groups mentioned).",
        )
    )
    return SuiteResult(
        suite="bias",
        seconds=0.0,
        tables=tables,
        items={f"BBQ {c}": len(category_rows) for c, category_rows in by_category.items()}
        | {
            "counterfactual prompts": sum(len(f.p_yes) + len(f.answers) for f in fairness.values()),
            "representation generations": len(representation.generations),
        },
    )


def _unifiedqa_check(root: Path) -> ResultTable | None:
    """The scorer on the paper's own UnifiedQA predictions, next to the paper's figures."""
    folder = root / "bbq" / "unifiedqa_preds"
    if not folder.is_dir():
        return None
    rows: dict[str, dict[str, float | None]] = {}
    for category, (paper_amb, paper_dis) in PAPER_UNIFIEDQA.items():
        path = folder / f"preds_{category}.jsonl"
        if not path.is_file():
            continue
        scored = bbq.score_prediction_column(load_bbq_predictions(path), "unifiedqa-t5-11b_pred_race")[
            category
        ]
        rows[category] = {
            "s_AMB x100": bbq.paper_figure(scored.s_amb),
            "paper s_AMB": paper_amb,
            "s_DIS x100": bbq.paper_figure(scored.s_dis),
            "paper s_DIS": paper_dis,
        }
    return ResultTable(
        title="BBQ scorer check: the paper's UnifiedQA (RACE format) predictions",
        rows=rows,
        plot_columns=["s_AMB x100", "paper s_AMB"],
        reference=0.0,
        note="heron's BBQ scorer on the predictions shipped with the paper reproduces its Figure 3.",
    )


SUITES: dict[str, Callable[[EvalSession], SuiteResult]] = {
    "hallucination": hallucination_suite,
    "truthfulqa": truthfulqa_suite,
    "bias": bias_suite,
}


def run_suites(names: Sequence[str], session: EvalSession, name: str, command: str = "") -> EvalRun:
    """Run the named suites in order and collect them into one :class:`EvalRun` (timed per suite)."""
    started = time.perf_counter()
    run = EvalRun(
        name=name,
        model=session.model_name(),
        command=command,
        limit=session.limit,
        data_root=str(
            session.halueval_file.resolve()  # `heron eval hallucination --pairs FILE`: that file
            if session.halueval_file is not None
            else resolve_data_root(session.data_root).resolve()
        ),
    )
    for suite in names:
        suite_started = time.perf_counter()
        result = SUITES[suite](session)
        result.seconds = round(time.perf_counter() - suite_started, 1)
        run.suites.append(result)
    run.model = session.model_name()  # the loaded model's own name, as the tables use it
    run.seconds = round(time.perf_counter() - started, 1)
    return run
