"""heron.evals: hallucination and bias measurements on public data, with reports.

Modules, one concept each (EVALS.md has the formulas and the validation figures):

- ``datasets``: BBQ, HaluEval, TruthfulQA readers (malformed rows -> DatasetError with file:line)
- ``metrics``: AUROC, length-matched subsets, TVD from uniform, entropy
- ``bbq``, ``truthfulqa``: the paper scores, from a model's option log-probabilities
- ``groundedness``: claim-by-claim, model-free (MiniLM + word overlap) and LLM judge (P(yes))
- ``selfcheck``, ``uncertainty``: consistency of sampled answers; token logprobs, semantic entropy
- ``halueval``, ``detectors``: hallucination detectors against trivial baselines on HaluEval
- ``fairness``, ``representation``, ``demographics``: counterfactual flips, HELM-style representation
- ``traces``: groundedness of agent answers read from run traces
- ``suites``, ``session``, ``results``, ``report``: what ``heron eval`` runs, saves and draws
"""
