"""Chapter 05 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import pytest

from aieng import checks
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, verdicts

CH05 = "05_rag.ipynb"
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_recall_at_k():
    def ignores_k(retrieved_ids, gold_ids, k):
        return 1.0 if any(article_id in gold_ids for article_id in retrieved_ids) else 0.0

    stub, solution, wrong = verdicts(CH05, checks.recall_at_k, "recall_at_k", ignores_k)
    assert stub.status == "todo" and "not attempted" in str(stub) and "5.1" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail"
    assert "['KB-104', 'KB-101', 'KB-103'], ['KB-103'], 2) returned 1.0" in str(wrong)
    assert "Hint: Only the first k" in str(wrong)
    assert_no_solution_leak(wrong, CH05, "recall_at_k")


def test_recall_at_k_with_only_the_first_gold_article():
    def first_gold_only(retrieved_ids, gold_ids, k):
        return 1.0 if gold_ids[0] in retrieved_ids[:k] else 0.0

    result = checks.recall_at_k(first_gold_only)
    assert result.status == "fail" and "several gold articles" in str(result)


def test_recall_at_k_returning_a_string_is_named():
    result = checks.recall_at_k(lambda retrieved_ids, gold_ids, k: "hit")
    assert result.status == "fail" and "not a number" in str(result)


def test_reciprocal_rank():
    def zero_based(retrieved_ids, gold_ids):
        for rank, article_id in enumerate(retrieved_ids):
            if article_id in gold_ids:
                return 1 / rank
        return 0.0

    stub, solution, wrong = verdicts(CH05, checks.reciprocal_rank, "reciprocal_rank", zero_based)
    assert stub.status == "todo" and "5.2" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "raised ZeroDivisionError" in str(wrong) and "Ranks start at 1" in str(wrong)
    assert_no_solution_leak(wrong, CH05, "reciprocal_rank")


def test_reciprocal_rank_that_returns_the_rank_itself():
    def rank_not_reciprocal(retrieved_ids, gold_ids):
        return next((rank for rank, a in enumerate(retrieved_ids, start=1) if a in gold_ids), 0.0)

    result = checks.reciprocal_rank(rank_not_reciprocal)
    assert result.status == "fail" and "returned 3" in str(result) and "one over the rank" in str(result)


def test_chunk_words():
    def ignores_overlap(text, size, overlap):
        words = text.split()
        return [" ".join(words[i:i + size]) for i in range(0, len(words), size)]

    stub, solution, wrong = verdicts(CH05, checks.chunk_words, "chunk_words", ignores_overlap)
    assert stub.status == "todo" and "5.3" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail"
    assert "chunk_words('one two three four five six seven eight nine ten', 4, 1)" in str(wrong)
    assert "size - overlap" in str(wrong)
    assert_no_solution_leak(wrong, CH05, "chunk_words")


def test_chunk_words_that_runs_past_the_end():
    def one_window_too_many(text, size, overlap):
        words = text.split()
        return [" ".join(words[i:i + size]) for i in range(0, len(words), size - overlap)]

    result = checks.chunk_words(one_window_too_many)
    assert result.status == "fail" and "reaches the last word" in str(result)


def test_a_call_result_instead_of_the_function_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.chunk_words\(chunk_words\)"):
        checks.chunk_words(["one two"])


def test_under_the_test_run_a_failing_check_raises(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="5.1"):
        checks.recall_at_k(lambda retrieved_ids, gold_ids, k: None)
