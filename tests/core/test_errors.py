from __future__ import annotations

from heron import errors


def test_usage_errors_carry_problem_and_fix() -> None:
    err = errors.ConfigError("context_size must be positive", "set HERON_CONTEXT_SIZE=4096")
    assert isinstance(err, errors.UsageError)
    assert err.problem == "context_size must be positive"
    assert "fix: set HERON_CONTEXT_SIZE=4096" in str(err)


def test_audiences_do_not_overlap() -> None:
    run_errors = [
        errors.ModelError,
        errors.ToolExecutionError,
        errors.SandboxError,
        errors.BudgetExhaustedError,
    ]
    for cls in run_errors:
        assert issubclass(cls, errors.RunError) and not issubclass(cls, errors.UsageError)
    assert not issubclass(errors.ModelRetry, (errors.RunError, errors.UsageError))
    # a missing sandbox is both: the run cannot go on, and the user must install something.
    assert issubclass(errors.SandboxUnavailableError, errors.SandboxError)
    assert issubclass(errors.SandboxUnavailableError, errors.UsageError)


def test_cause_is_kept() -> None:
    try:
        try:
            raise OSError("disk gone")
        except OSError as exc:
            raise errors.ModelError("load failed") from exc
    except errors.ModelError as err:
        assert isinstance(err.__cause__, OSError)
