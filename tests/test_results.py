"""The results store chapter 09 reads: valid records round-trip, bad ones are refused with the reason."""

import pytest

from aieng import results


@pytest.fixture(autouse=True)
def own_workspace(tmp_path, monkeypatch):
    """Each test reads only what it wrote: the session's workspace holds what chapters record."""
    monkeypatch.setenv("AIENG_WORKSPACE", str(tmp_path))


def _fields(**overrides):
    base = dict(approach="tfidf-lr:train-542", family="classic", workflow="ml", chapter="01", task="routing",
                metric="accuracy", value=0.7, n=226, interval=(0.64, 0.76), labels_used=542, model="scikit-learn")
    return {**base, **overrides}


def test_record_round_trips_and_replaces_the_same_approach():
    results.record(**_fields(value=0.5, interval=(0.4, 0.6)))
    results.record(**_fields())
    results.record(**_fields(approach="embedding-zero:queues-v2", family="embedding", workflow="ai", chapter="02",
                             labels_used=0, value=0.6, interval=None))
    frame = results.load()
    assert list(frame["approach"]) == ["tfidf-lr:train-542", "embedding-zero:queues-v2"]
    assert frame.loc[0, "value"] == 0.7 and tuple(frame.loc[0, "interval"]) == (0.64, 0.76)
    assert set(results.missing(frame)) == {"prompted", "rag", "agent", "fine-tuned"}


@pytest.mark.parametrize("bad, reason", [
    (dict(family="deep"), "family"),
    (dict(workflow="both"), "workflow"),
    (dict(task="everything"), "task"),
    (dict(value=0.9, interval=(0.1, 0.2)), "interval"),
    (dict(n=0), "n=0"),
    (dict(value=float("nan")), "not a number"),
])
def test_a_bad_record_is_refused_with_the_reason(bad, reason):
    with pytest.raises(ValueError, match=reason):
        results.record(**_fields(**bad))
    assert results.load().empty


def test_a_corrupt_file_is_named():
    results.results_dir().mkdir(parents=True, exist_ok=True)
    (results.results_dir() / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json.*rerun"):
        results.load()
