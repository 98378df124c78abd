"""heron.evals: hallucination and bias measurements on public data, with reports."""
