"""aieng.capstone: the comparison table from a results store, the ledgers, the new queue's router file.

Every test writes its own records into a temporary workspace (AIENG_WORKSPACE), so none depends on
which chapters ran before it."""

import math

import matplotlib
import pytest

from aieng import capstone, data, ledger, prompts, results

matplotlib.use("Agg")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))
    return tmp_path


def _record(approach, family, workflow, chapter, value, **fields):
    defaults = dict(task="routing", metric="accuracy", n=226, interval=(value - 0.05, value + 0.05), labels_used=0,
                    ms_per_request=20.0, model="m", minutes_to_prototype=30.0)
    return results.record(approach=approach, family=family, workflow=workflow, chapter=chapter, value=value,
                          **{**defaults, **fields})


def _every_family():
    _record("tfidf:chapter-01", "classic", "ml", "01", 0.69, labels_used=678, minutes_to_prototype=850.0,
            ms_per_request=0.5, extra={"c_grid_accuracy_spread": 0.03})
    _record("prompted:triage-v2", "prompted", "ai", "02", 0.04, labels_used=11, ms_per_request=600.0,
            tokens_per_request=480.0, extra={"prompt_tokens": 470.0, "completion_tokens": 10.0})
    _record("embedding-zero:queues-v2", "embedding", "ai", "02", 0.61)
    _record("rag:hybrid", "rag", "ai", "05", 0.8, task="answering", metric="recall@5", n=40, interval=None)
    _record("agent:tools", "agent", "ai", "06", 0.5, task="agent-tasks", metric="task success", n=12)
    _record("lora:smollm2", "fine-tuned", "ai", "08", 0.65, labels_used=300)


def test_missing_families_are_rows_without_numbers_naming_the_chapter(store):
    _record("tfidf:chapter-01", "classic", "ml", "01", 0.69, labels_used=678)
    table = capstone.comparison_table()
    missing = table[table["status"] == "missing"]
    assert set(missing["family"]) == {"prompted", "embedding", "rag", "agent", "fine-tuned"}
    assert "agent: missing, run chapter 06" in missing.index and "fine-tuned: missing, run chapter 08" in missing.index
    assert table.index.is_unique  # two families of one chapter are two rows
    assert missing[["value", "ci_low", "ci_high", "labels_used", "ms_per_request", "minutes_to_prototype"]].isna().all().all()
    assert table.loc["tfidf:chapter-01", "value"] == pytest.approx(0.69)


def test_a_store_with_every_family_shows_nothing_missing_and_keeps_each_row(store):
    _every_family()
    table = capstone.comparison_table()
    assert (table["status"] == "measured").all() and len(table) == 6
    assert list(table["family"]) == list(results.FAMILIES)  # the course's order: classic first, fine-tuned last
    row = table.loc["embedding-zero:queues-v2"]
    assert (row["ci_low"], row["ci_high"], row["labels_used"]) == (pytest.approx(0.56), pytest.approx(0.66), 0)
    assert math.isnan(table.loc["rag:hybrid", "ci_low"])  # recorded without an interval: none is invented


def test_cost_prices_the_recorded_tokens_and_is_zero_without_a_chat_model(store):
    _every_family()
    table = capstone.comparison_table()
    prices = capstone.HOSTED_PRICES
    want = 1000 * (470 * prices["usd_per_million_input"] + 10 * prices["usd_per_million_output"]) / 1e6
    assert table.loc["prompted:triage-v2", "usd_per_1000"] == pytest.approx(want)
    assert table.loc["tfidf:chapter-01", "usd_per_1000"] == 0.0
    _record("rag:answers", "rag", "ai", "05", 0.5, task="answering", metric="faithful", n=4,
            extra={"chat_model_calls": 1})
    assert math.isnan(capstone.comparison_table().loc["rag:answers", "usd_per_1000"])  # not counted is not free
    doubled = capstone.comparison_table(prices={**prices, "usd_per_million_input": 2 * prices["usd_per_million_input"]})
    assert doubled.loc["prompted:triage-v2", "usd_per_1000"] > want


def test_plot_draws_one_panel_per_question_with_a_row_per_approach(store):
    _record("tfidf:chapter-01", "classic", "ml", "01", 0.69, labels_used=678)
    figure = capstone.plot_comparison(capstone.comparison_table())
    assert len(figure.axes) == 5
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert len(labels) == 6 and any("rag: missing, run chapter 05" in label for label in labels)


def test_snapshot_records_what_the_chapter_showed(store):
    _record("tfidf:chapter-01", "classic", "ml", "01", 0.69)
    with pytest.raises(FileNotFoundError, match="chapter 09 has not run"):
        capstone.load_snapshot()
    capstone.save_snapshot(capstone.comparison_table())
    snapshot = capstone.load_snapshot()
    assert snapshot["families"] == ["classic"] and snapshot["missing"]["agent"] == "06"
    _every_family()
    capstone.save_snapshot(capstone.comparison_table())
    assert capstone.load_snapshot()["missing"] == {}


def test_workflow_minutes_reads_both_ledgers_in_order_with_layers(store):
    assert capstone.workflow_minutes().empty
    ml = ledger.Ledger()
    ml.add("ml", "collect", 240, kind="estimated")
    ml.add("ml", "label", 600, kind="estimated")
    ml.add("ml", "train", 0.1, kind="measured")
    ml.add("ml", "productize", 0.2, kind="measured")
    ml.save()
    ai = ledger.Ledger()
    ai.add("ai", "prompt: write and try", 30, kind="estimated")
    ai.add("ai", "label: validation and test", 300, kind="estimated")
    ai.save(capstone.ai_ledger_path())
    minutes = capstone.workflow_minutes()
    assert list(minutes["workflow"]) == ["ml"] * 4 + ["ai"] * 2
    assert list(minutes["layer"]) == ["data", "data", "model", "application", "application", "data"]
    assert minutes.loc[minutes["workflow"] == "ml", "cumulative_minutes"].iloc[-1] == pytest.approx(840.3)
    figure = capstone.plot_value_shift(minutes)
    assert len(figure.axes) == 2


def test_new_queue_tickets_load_by_split_and_a_bad_split_is_named():
    assert set(capstone.load_new_queue()["split"]) == set(data.SPLITS)
    assert (capstone.load_new_queue("train")["split"] == "train").all()
    with pytest.raises(ValueError, match="Unknown split 'vaild'"):
        capstone.load_new_queue("vaild")


def test_description_router_needs_the_new_queue_and_every_old_one(tmp_path):
    template = prompts.load("queues", "v2").path.read_text(encoding="utf-8")
    untouched = tmp_path / "untouched.md"
    untouched.write_text(template, encoding="utf-8")
    with pytest.raises(ValueError, match="Missing: expenses"):
        capstone.description_router(untouched)
    added = tmp_path / "added.md"
    added.write_text(template.replace("version: v2", "version: v2-x") + "- expenses: my expense claim was not reimbursed\n",
                     encoding="utf-8")
    router = capstone.description_router(added)
    assert list(router.descriptions) == list(capstone.QUEUES) and router.id == "embedding-zero:queues-v2-x"
    dropped = tmp_path / "dropped.md"
    dropped.write_text("\n".join(line for line in added.read_text().splitlines() if not line.startswith("- payroll")),
                       encoding="utf-8")
    with pytest.raises(ValueError, match="Missing: payroll"):
        capstone.description_router(dropped)
    with pytest.raises(FileNotFoundError, match="No description file"):
        capstone.description_router(tmp_path / "nowhere.md")


def test_a_corrupt_result_file_is_named(store):
    _record("tfidf:chapter-01", "classic", "ml", "01", 0.69)
    (results.results_dir() / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json"):
        capstone.comparison_table()


def _after_chapters_test():
    import importlib.util

    from aieng.exercises import ROOT

    spec = importlib.util.spec_from_file_location("after_chapters", ROOT / "solutions" / "test_capstone_after_chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Item:
    def __init__(self, path):
        self.fspath = path


class _Request:
    def __init__(self, paths):
        self.session = type("Session", (), {"items": [_Item(path) for path in paths]})()


def test_the_after_chapters_test_fails_when_chapter_09_showed_a_missing_approach(store):
    module = _after_chapters_test()
    every_chapter = _Request(sorted(module.SOLUTIONS.glob("[0-9][0-9]_*.ipynb")))
    _record("tfidf:chapter-01", "classic", "ml", "01", 0.69)  # only chapter 01 recorded
    capstone.save_snapshot(capstone.comparison_table())
    with pytest.raises(AssertionError, match="shows these approaches as missing"):
        module.test_chapter_09_shows_no_approach_missing_after_chapters_00_to_08(every_chapter)
    _every_family()
    capstone.save_snapshot(capstone.comparison_table())
    module.test_chapter_09_shows_no_approach_missing_after_chapters_00_to_08(every_chapter)
    with pytest.raises(pytest.skip.Exception, match="did not run in this session"):
        module.test_chapter_09_shows_no_approach_missing_after_chapters_00_to_08(_Request([]))
