"""Prompt-lookup speculation: the tokens a reply is about to copy, guessed from its own context.

A reply often repeats text its context already holds: a tool call's arguments quote the request, an
answer quotes a retrieved passage or a tool's result, code repeats its own names. When the last
tokens written also occur earlier in the prompt or the reply, the tokens that followed them there
are a cheap guess of what comes next ("prompt lookup decoding", A. Saxena 2023; llama.cpp's
`lookup` example). ``LocalLLM``'s decode loop evaluates the token it just sampled together with
that guess in one batch: on a CPU the weights are read once for the batch, so a few guessed tokens
cost little more than the one token. It then samples each position from its own logits, exactly as
it would have without the guess, and keeps the guessed tokens only while they are what it sampled;
at the first difference the rest is dropped from the KV cache. The reply is the one the model writes
anyway (up to the floating-point difference between a batched and a single-token evaluation, which
can flip a near-tie); what changes is how many forward passes it takes
(``GenerationOptions.draft_tokens``: off by default, 8 is what BENCHMARKS.md measured; such a flip
changed one agent test's answer, so it stays opt-in until heron's tasks are checked with it on).

The guess follows the latest earlier occurrence of the longest suffix that has one, from
``MAX_NGRAM`` tokens down to ``MIN_NGRAM`` (a single token, such as a comma, predicts too little).
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_NGRAM = 4
MIN_NGRAM = 2
FIRST_GUESS = 2  # tokens guessed at first; then doubled while every guessed token is kept


class LookupDraft:
    """The tokens written so far (prompt and reply), indexed by their n-grams; ``guess`` proposes
    what follows the current end. Only grows: guesses are not added, the kept tokens are (``push``).

    How many tokens a guess holds adapts to how the last one did (``settle``): twice as many after a
    guess kept whole, one more than were kept after one cut short. Where the reply copies, guesses
    grow up to the caller's limit; where it does not, they stay one or two tokens long, which cost
    little more than the token evaluated with them.
    """

    def __init__(self, prompt: Sequence[int], limit: int) -> None:
        self.tokens: list[int] = list(prompt)
        self.limit = limit
        self.length = min(FIRST_GUESS, limit)
        # per n: n tokens -> where the tokens after their latest occurrence start
        self._after: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in range(MIN_NGRAM, MAX_NGRAM + 1)}
        self._indexed = 0  # occurrences whose continuation starts before this position are indexed

    def push(self, token: int) -> None:
        self.tokens.append(token)

    def settle(self, guessed: int, kept: int) -> None:
        """How the last guess did: ``kept`` of its ``guessed`` tokens were what the model wrote."""
        self.length = min(self.limit, 2 * guessed if kept == guessed else kept + 1)

    def guess(self, room: int) -> list[int]:
        """Up to ``self.length`` (and ``room``) tokens that followed the latest earlier occurrence of the
        current end's longest matching suffix; [] when none occurs earlier.

        >>> draft = LookupDraft([5, 6, 7, 8, 9], limit=8)
        >>> for token in (1, 5, 6):
        ...     draft.push(token)
        >>> draft.guess(room=8)
        [7, 8]
        """
        tokens = self.tokens
        end = len(tokens)
        # index the occurrences ending before the current end (that one has no continuation yet)
        for start in range(max(self._indexed, MIN_NGRAM), end):
            for n, after in self._after.items():
                if start >= n:
                    after[tuple(tokens[start - n : start])] = start
        self._indexed = end
        length = min(self.length, room)
        if length <= 0:
            return []
        for n in range(MAX_NGRAM, MIN_NGRAM - 1, -1):
            if end < n:
                continue
            follows = self._after[n].get(tuple(tokens[end - n :]))
            if follows is not None:
                return tokens[follows : min(follows + length, end)]
        return []
