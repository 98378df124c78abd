"""Groundedness of an answer in its retrieved contexts, claim by claim (RAGAS / TruLens style).

Two scorers share one result type:

- :class:`ModelFreeGroundedness`: no LLM. A claim is supported when it is close to some context
  sentence (best MiniLM cosine similarity of question + claim) and its content words occur in the
  contexts; ``unsupported = w * (1 - similarity) + (1 - w) * absent_share``.
- :class:`JudgeGroundedness`: the configured LLM answers "is the claim supported / contradicted by
  the context?"; the score is P(yes) read from the option log-probabilities, not a sampled word.

An answer's groundedness is the mean support of its claims; ``supported_share`` and
``contradicted_share`` count claims past 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from heron.evals.embeddings import SentenceEmbedder
from heron.evals.judge import yes_probability
from heron.evals.metrics import mean
from heron.evals.text import absent_share, claims, content_words, sentences
from heron.llm.base import LLM

# Weight of (1 - similarity) in the model-free score: the grid value with the best AUROC on the
# length-matched answers of the even-numbered HaluEval pairs (half A); the odd-numbered pairs (half B)
# are the held-out check (EVALS.md). So small a weight makes the similarity a tie-breaker among
# claims with the same share of absent content words (0, 1/2, 1, ...), which is where it helps.
SIMILARITY_WEIGHT = 0.05
SUPPORT_THRESHOLD = 0.5


@dataclass
class ClaimVerdict:
    """One claim of an answer and how well the contexts back it (``supported`` in [0, 1])."""

    claim: str
    supported: float
    contradicted: float | None = None
    similarity: float | None = None  # model-free: best cosine similarity to a context sentence
    absent_share: float | None = None  # model-free: share of content words not in the contexts
    closest_sentence: str | None = None


@dataclass
class GroundednessResult:
    """Claim verdicts of one answer and the answer-level scores derived from them."""

    claims: list[ClaimVerdict] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Mean support over claims; 1.0 for an answer without claims (it asserts nothing)."""
        return (mean([c.supported for c in self.claims]) or 0.0) if self.claims else 1.0

    @property
    def hallucination_score(self) -> float:
        """``1 - score``: higher means more likely hallucinated (the direction AUROC is computed in)."""
        return 1.0 - self.score

    @property
    def supported_share(self) -> float:
        """Supported claims / all claims."""
        if not self.claims:
            return 1.0
        return sum(c.supported >= SUPPORT_THRESHOLD for c in self.claims) / len(self.claims)

    @property
    def contradicted_share(self) -> float | None:
        """Contradicted claims / all claims; None if the scorer does not judge contradiction."""
        judged = [c.contradicted for c in self.claims if c.contradicted is not None]
        if not judged:
            return None
        return sum(p >= SUPPORT_THRESHOLD for p in judged) / len(self.claims)

    @property
    def mean_contradiction(self) -> float | None:
        return mean([c.contradicted for c in self.claims if c.contradicted is not None])


def unsupported_score(
    similarity: float, absent: float, similarity_weight: float = SIMILARITY_WEIGHT
) -> float:
    """The model-free hallucination score of one claim, in [0, 1].

    >>> unsupported_score(similarity=0.6, absent=0.5, similarity_weight=0.5)
    0.45
    """
    similarity = min(max(similarity, 0.0), 1.0)
    return round(similarity_weight * (1.0 - similarity) + (1.0 - similarity_weight) * absent, 12)


class ModelFreeGroundedness:
    """Groundedness from sentence embeddings and word overlap; needs no LLM.

    >>> with SentenceEmbedder.from_settings(load_settings()) as embedder:  # doctest: +SKIP
    ...     ModelFreeGroundedness(embedder).score("Paris.", ["Paris is the capital."], "Capital?").score
    """

    def __init__(self, embedder: SentenceEmbedder, similarity_weight: float = SIMILARITY_WEIGHT) -> None:
        if not 0.0 <= similarity_weight <= 1.0:
            raise ValueError(f"similarity_weight must be in [0, 1], not {similarity_weight}")
        self.embedder = embedder
        self.similarity_weight = similarity_weight

    def score(self, answer: str, contexts: Sequence[str], question: str | None = None) -> GroundednessResult:
        """Verdicts for every claim of ``answer`` against the sentences of ``contexts``."""
        context_sentences = [s for context in contexts for s in sentences(context)]
        context_text = "\n".join(contexts)
        result = GroundednessResult()
        for claim in claims(answer):
            similarity, closest = 0.0, None
            if context_sentences:
                row = self.embedder.similarity([_probe(claim, question)], context_sentences)[0]
                best = int(row.argmax())
                similarity, closest = float(row[best]), context_sentences[best]
            absent = absent_share(content_words(claim), context_text)
            unsupported = unsupported_score(similarity, absent, self.similarity_weight)
            result.claims.append(
                ClaimVerdict(claim, 1.0 - unsupported, None, similarity, absent, closest_sentence=closest)
            )
        return result

    def score_many(self, items: Sequence[tuple[str, Sequence[str], str | None]]) -> list[GroundednessResult]:
        """``score`` for many ``(answer, contexts, question)`` items, embedding all texts in batches first
        (several times faster than one sentence at a time on a CPU)."""
        texts = [
            text
            for answer, contexts, question in items
            for text in [
                *(_probe(c, question) for c in claims(answer)),
                *(s for c in contexts for s in sentences(c)),
            ]
        ]
        self.embedder.encode(texts)  # fills the embedder's cache
        return [self.score(answer, contexts, question) for answer, contexts, question in items]


def _probe(claim: str, question: str | None) -> str:
    # The question gives a short answer ("Delhi") something to be similar about.
    return f"{question} {claim}" if question else claim


class JudgeGroundedness:
    """Groundedness judged by the LLM, claim by claim, as P("Yes") from its log-probabilities."""

    def __init__(self, llm: LLM, check_contradiction: bool = True) -> None:
        self.llm = llm
        self.check_contradiction = check_contradiction

    def score(self, answer: str, contexts: Sequence[str], question: str | None = None) -> GroundednessResult:
        context_text = "\n\n".join(contexts)
        result = GroundednessResult()
        for claim in claims(answer):
            supported = yes_probability(
                self.llm, "eval_claim_supported", context=context_text, claim=claim, question=question
            )
            contradicted = (
                yes_probability(
                    self.llm, "eval_claim_contradicted", context=context_text, claim=claim, question=question
                )
                if self.check_contradiction
                else None
            )
            result.claims.append(ClaimVerdict(claim, supported, contradicted))
        return result
