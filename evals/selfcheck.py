"""SelfCheck-style consistency (Manakul et al., 2023) for answers without a context.

Sample N more answers to the same prompt; a sentence of the main answer that the samples do not
back up is likely made up. Three variants, each a per-sentence score where higher = less consistent:

- unigram: a unigram model fit on the samples and the answer (add-one smoothing); the sentence's
  mean and max negative log-probability of its words,
- embedding: 1 - the best MiniLM similarity to the sentences of a sample, averaged over samples,
- judge: P("No") of the LLM asked whether the sample supports the sentence, averaged over samples.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from heron.evals.embeddings import SentenceEmbedder
from heron.evals.judge import yes_probability
from heron.evals.metrics import mean
from heron.evals.text import claims, words
from heron.llm.base import LLM
from heron.llm.types import Completion, GenerationOptions, Message


def sample_answers(
    llm: LLM,
    messages: Sequence[Message],
    n: int,
    temperature: float = 1.0,
    seed: int = 0,
    max_tokens: int = 64,
) -> list[Completion]:
    """``n`` sampled answers with token logprobs, seeds ``seed .. seed + n - 1`` (repeatable)."""
    return [
        llm.chat(
            messages,
            GenerationOptions(max_tokens=max_tokens, temperature=temperature, seed=seed + i, logprobs=True),
        )
        for i in range(n)
    ]


@dataclass
class UnigramScore:
    """Negative log-probabilities of a sentence's words under the samples' unigram model."""

    mean_neg_logprob: float
    max_neg_logprob: float


def selfcheck_unigram(sentences: Sequence[str], samples: Sequence[str], answer: str) -> list[UnigramScore]:
    """Unigram variant: ``P(w) = (count(w) + 1) / (total words + vocabulary size)``, counted over the
    samples and the answer itself, so every word of the answer has a count.

    A sentence without words scores 0.
    """
    counts = Counter(w for text in [*samples, answer] for w in words(text))
    denominator = sum(counts.values()) + len(counts)
    scores = []
    for sentence in sentences:
        surprisals = [-math.log((counts[w] + 1) / denominator) for w in words(sentence)]
        scores.append(UnigramScore(mean(surprisals) or 0.0, max(surprisals, default=0.0)))
    return scores


def selfcheck_embedding(
    sentences: Sequence[str], samples: Sequence[str], embedder: SentenceEmbedder
) -> list[float]:
    """Embedding variant: ``1 - mean over samples of max cos(sentence, sample sentence)``."""
    sample_sentences = [claims(sample) or [""] for sample in samples]
    scores = []
    for sentence in sentences:
        best = [float(embedder.similarity([sentence], parts)[0].max()) for parts in sample_sentences]
        scores.append(1.0 - ((mean(best) or 0.0) if best else 0.0))
    return scores


def selfcheck_judge(sentences: Sequence[str], samples: Sequence[str], llm: LLM) -> list[float]:
    """Judge variant: mean over samples of P("No") to "is the sentence supported by this sample?"."""
    return [
        mean(
            [
                1.0 - yes_probability(llm, "eval_claim_supported", context=s, claim=sentence, question=None)
                for s in samples
            ]
        )
        or 0.0
        for sentence in sentences
    ]


@dataclass
class SelfCheckResult:
    """Per-sentence scores of the three variants (judge only when an LLM judged) and their means."""

    sentences: list[str]
    unigram: list[UnigramScore]
    embedding: list[float]
    judge: list[float] | None = None
    samples: list[str] = field(default_factory=list)

    def passage_scores(self) -> dict[str, float | None]:
        """One score per variant for the whole answer: the mean over its sentences."""
        return {
            "unigram mean": mean([s.mean_neg_logprob for s in self.unigram]),
            "unigram max": mean([s.max_neg_logprob for s in self.unigram]),
            "embedding": mean(self.embedding),
            "judge": mean(self.judge) if self.judge is not None else None,
        }


def selfcheck(
    answer: str,
    samples: Sequence[str],
    embedder: SentenceEmbedder,
    judge: LLM | None = None,
) -> SelfCheckResult:
    """Score each sentence of ``answer`` against ``samples`` with every variant available."""
    parts = claims(answer)
    return SelfCheckResult(
        sentences=parts,
        unigram=selfcheck_unigram(parts, samples, answer),
        embedding=selfcheck_embedding(parts, samples, embedder),
        judge=selfcheck_judge(parts, samples, judge) if judge is not None else None,
        samples=list(samples),
    )
