"""Chapter 09 checks: "not attempted" for the stub, a pass for the solution, a hint for a plausible slip.

The stub and the solution are taken from notebooks/ and solutions/ themselves."""

import pandas as pd
import pytest

from aieng import capstone, checks, prompts, workspace
from aieng.checks import STRICT_ENV
from aieng.errors import ExerciseCheckFailed
from notebook_code import assert_no_solution_leak, exercise_cell, verdicts

CH09 = "09_capstone.ipynb"
NAMESPACE = {"pd": pd}
pytestmark = pytest.mark.usefixtures("learner_mode")


def test_labels_for_new_queue():
    def leaks_held_out(train, new_queue):
        return pd.concat([train, new_queue.drop(columns="split")], ignore_index=True)

    stub, solution, wrong = verdicts(CH09, checks.labels_for_new_queue, "with_new_queue", leaks_held_out, NAMESPACE)
    assert stub.status == "todo" and "9.2" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "validation or test tickets" in str(wrong)
    assert "Hint: A ticket you train on cannot measure" in str(wrong)
    assert_no_solution_leak(wrong, CH09, "with_new_queue")


def test_labels_for_new_queue_that_drop_the_old_train_split():
    result = checks.labels_for_new_queue(lambda train, new: new[new["split"] == "train"].drop(columns="split"))
    assert result.status == "fail" and "every old train ticket" in str(result)


def test_new_queue_scores():
    def precision_crashes_or_counts_all(gold, predicted, queue):
        pairs = list(zip(gold, predicted))
        return {"recall": sum(g == p == queue for g, p in pairs) / gold.count(queue),
                "precision": sum(g == p == queue for g, p in pairs) / max(predicted.count(queue), 1),
                "old_accuracy": sum(g == p for g, p in pairs) / len(pairs)}  # all tickets, not only the old queues

    stub, solution, wrong = verdicts(CH09, checks.new_queue_scores, "queue_scores", precision_crashes_or_counts_all)
    assert stub.status == "todo" and "9.3" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "old_accuracy" in str(wrong)
    assert "Hint: Old accuracy: accuracy over the tickets whose true queue is not the new one" in str(wrong)
    assert_no_solution_leak(wrong, CH09, "queue_scores")


def test_new_queue_scores_dividing_by_zero_is_named():
    def no_guard(gold, predicted, queue):
        pairs = list(zip(gold, predicted))
        routed = [g for g, p in pairs if p == queue]
        others = [g == p for g, p in pairs if g != queue]
        return {"recall": sum(g == p == queue for g, p in pairs) / gold.count(queue),
                "precision": sum(g == queue for g in routed) / len(routed), "old_accuracy": sum(others) / len(others)}

    result = checks.new_queue_scores(no_guard)
    assert result.status == "fail" and "raised ZeroDivisionError" in str(result) and "Guard the divisions" in str(result)


def test_queue_gate():
    def ignores_the_old_queues(candidate, current, *, min_recall, max_drop):
        return candidate["recall"] >= min_recall

    stub, solution, wrong = verdicts(CH09, checks.queue_gate, "ships", ignores_the_old_queues)
    assert stub.status == "todo" and "9.4" in str(stub)
    assert solution.passed, str(solution)
    assert wrong.status == "fail" and "old queues' drop must stop it" in str(wrong)
    assert_no_solution_leak(wrong, CH09, "ships")


def test_queue_gate_with_strict_bars_misses_the_inclusive_case():
    result = checks.queue_gate(lambda c, cur, *, min_recall, max_drop:
                               c["recall"] > min_recall and c["old_accuracy"] > cur["old_accuracy"] - max_drop)
    assert result.status == "fail" and "inclusive" in str(result)


def test_checks_raise_under_the_test_run(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseCheckFailed, match="9.4"):
        checks.queue_gate(lambda candidate, current, *, min_recall, max_drop: True)


def test_misuse_says_what_to_type():
    with pytest.raises(TypeError, match=r"checks.new_queue_scores\(queue_scores\)"):
        checks.new_queue_scores({"recall": 1})
    with pytest.raises(TypeError, match="Pass the path"):
        checks.new_queue_descriptions(42)


@pytest.mark.slow
def test_new_queue_descriptions(tmp_path, monkeypatch, one_torch_thread):
    template = prompts.load("queues", "v2").path.read_text(encoding="utf-8")
    untouched = tmp_path / "untouched.md"
    untouched.write_text(template, encoding="utf-8")
    assert checks.new_queue_descriptions(untouched).status == "todo"
    assert checks.new_queue_descriptions(None).status == "todo"
    assert checks.new_queue_descriptions(tmp_path / "nowhere.md").status == "fail"

    copied = tmp_path / "copied.md"
    leaked = max(capstone.load_new_queue("test")["body"].iloc[0].splitlines(), key=len)[:80]
    copied.write_text(template + f"- expenses: {leaked}\n", encoding="utf-8")
    result = checks.new_queue_descriptions(copied)
    assert result.status == "fail" and "copied from a validation or test ticket" in str(result)

    greedy = tmp_path / "greedy.md"  # a good line, plus lines in other queues' words: they take those tickets
    greedy.write_text(template + "- expenses: I submitted an expense claim with my receipts; when will I be reimbursed?\n"
                      "- expenses: The app shows an error message and nothing saves, please fix it.\n"
                      "- expenses: Transactions are missing from my bank account in Ledgerloop.\n"
                      "- expenses: I was charged and need a refund or an invoice for my payment.\n", encoding="utf-8")
    result = checks.new_queue_descriptions(greedy)
    assert result.status == "fail" and "pull in other queues' tickets" in str(result) and "Hint:" in str(result)

    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))
    scope = {"workspace": workspace, "prompts": prompts, "print": lambda *args: None}
    exec(compile(exercise_cell("solutions", CH09, "MY_QUEUES"), "solution", "exec"), scope)
    solution = checks.new_queue_descriptions(scope["MY_QUEUES"])
    assert solution.passed, str(solution)
