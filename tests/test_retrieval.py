"""aieng.retrieval: chunkers, the chromadb index (re-indexing, filters), BM25, fusion and metrics."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from aieng import retrieval
from aieng.data import Article
from aieng.errors import ServerStartError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REFUNDS = Article(
    id="KB-900", title="Refunds", section="Billing", updated="2026-03-09", related=(),
    body="Refunds go back to the card.\n\n## Annual plans\n\nA full refund within 30 days of renewal.\n\n"
         "## Monthly plans\n\nNo partial refunds for unused days.")
OLD_REFUNDS = Article(
    id="KB-901", title="Refunds for annual plans (2024)", section="Billing", updated="2024-09-03", related=(),
    body="Annual plans are refundable within 14 days of renewal.")
PASSWORD = Article(
    id="KB-902", title="Resetting your password", section="Account", updated="2026-02-03", related=(),
    body="Click Forgot password on the sign-in page.\n\n## The link expired\n\nReset links work for 60 minutes.")


def test_chunk_words_makes_overlapping_windows_ending_at_the_last_word():
    text = "a b c d e f g h i j"
    assert retrieval.chunk_words(text, 4) == ["a b c d", "e f g h", "i j"]
    assert retrieval.chunk_words(text, 4, 1) == ["a b c d", "d e f g", "g h i j"]
    assert retrieval.chunk_words(text, 4, 2) == ["a b c d", "c d e f", "e f g h", "g h i j"]
    assert retrieval.chunk_words(" x\n y ", 5) == ["x y"]
    assert retrieval.chunk_words("", 4, 1) == []


def test_chunk_words_rejects_an_overlap_as_large_as_the_window():
    with pytest.raises(ValueError, match="overlap < size"):
        retrieval.chunk_words("a b c", 3, 3)


def test_chunk_fixed_cuts_title_and_body_into_numbered_chunks_with_metadata():
    chunks = retrieval.chunk_fixed(REFUNDS, size=8, overlap=2)
    assert [c.id for c in chunks] == ["KB-900:000", "KB-900:001", "KB-900:002", "KB-900:003", "KB-900:004"]
    assert [c.text for c in chunks] == [  # 28 words, windows start every 6 words
        "# Refunds Refunds go back to the card.",
        "the card. ## Annual plans A full refund",
        "full refund within 30 days of renewal. ##",
        "renewal. ## Monthly plans No partial refunds for",
        "refunds for unused days.",
    ]
    assert chunks[1].metadata == {"article_id": "KB-900", "title": "Refunds", "section": "Billing",
                                  "updated": "2026-03-09", "updated_day": 20260309, "heading": "", "position": 1}


def test_chunk_by_heading_gives_one_chunk_per_section_with_title_and_heading():
    chunks = retrieval.chunk_by_heading(REFUNDS)
    assert [(c.id, c.heading, c.text) for c in chunks] == [
        ("KB-900:000", "", "Refunds\n\nRefunds go back to the card."),
        ("KB-900:001", "Annual plans", "Refunds · Annual plans\n\nA full refund within 30 days of renewal."),
        ("KB-900:002", "Monthly plans", "Refunds · Monthly plans\n\nNo partial refunds for unused days."),
    ]


def test_chunk_by_heading_cuts_a_long_section_and_repeats_its_heading():
    chunks = retrieval.chunk_by_heading(REFUNDS, max_words=4)
    annual = [c.text for c in chunks if c.heading == "Annual plans"]
    assert annual == ["Refunds · Annual plans\n\nA full refund within",
                      "Refunds · Annual plans\n\n30 days of renewal."]


def test_day_number_and_a_bad_date():
    assert retrieval.day_number("2026-03-09") == 20260309
    with pytest.raises(ValueError, match="2026-03-09"):
        retrieval.day_number("9 March 2026")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return retrieval.persistent_client(tmp_path_factory.mktemp("chroma"))


@pytest.fixture
def collection(client, request):
    name = "t-" + request.node.name[-40:].replace("[", "-").replace("]", "")
    return retrieval.open_collection(client, name, fresh=True)


def test_reindexing_a_changed_article_replaces_its_chunks_without_duplicates(collection):
    first = retrieval.index_articles(collection, [REFUNDS, PASSWORD], retrieval.chunk_by_heading)
    assert first == retrieval.IndexReport(n_chunks=5, written=5, unchanged=0, deleted=0)
    again = retrieval.index_articles(collection, [REFUNDS, PASSWORD], retrieval.chunk_by_heading)
    assert again == retrieval.IndexReport(n_chunks=5, written=0, unchanged=5, deleted=0)

    # The policy changes and the monthly section goes away: one chunk rewritten, one deleted.
    changed = dataclasses.replace(REFUNDS, updated="2026-10-01",
                                  body=REFUNDS.body.split("\n\n## Monthly")[0].replace("30 days", "45 days"))
    report = retrieval.index_articles(collection, [changed], retrieval.chunk_by_heading)
    assert report.deleted == 1 and report.n_chunks == 2 and report.written == 2  # `updated` changed on both
    stored = collection.get(include=["documents", "metadatas"])
    assert len(stored["ids"]) == len(set(stored["ids"])) == 4
    assert sorted(i for i in stored["ids"] if i.startswith("KB-900")) == ["KB-900:000", "KB-900:001"]
    assert not any("30 days" in doc for doc in stored["documents"])
    assert {m["updated"] for m in stored["metadatas"] if m["article_id"] == "KB-900"} == {"2026-10-01"}
    assert retrieval.search(collection, "refund window for annual plans", k=1)[0].text.endswith("45 days of renewal.")


def test_delete_articles_removes_every_chunk_of_an_article(collection):
    retrieval.index_articles(collection, [REFUNDS, PASSWORD], retrieval.chunk_by_heading)
    assert retrieval.delete_articles(collection, ["KB-902"]) == 2
    assert {m["article_id"] for m in collection.get()["metadatas"]} == {"KB-900"}
    assert retrieval.delete_articles(collection, []) == 0


def test_search_returns_hits_best_first_and_filters_on_metadata(collection):
    retrieval.index_articles(collection, [REFUNDS, OLD_REFUNDS, PASSWORD], retrieval.chunk_by_heading)
    hits = retrieval.search(collection, "how long do I have to ask for a refund on my annual plan?", k=6)
    assert len(hits) == 6 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(-1.0 <= h.score <= 1.0 for h in hits)
    assert hits[0].article_id in {"KB-900", "KB-901"} and hits[-1].article_id == "KB-902"

    account = retrieval.search(collection, "refund", k=5, where={"section": "Account"})
    assert {h.article_id for h in account} == {"KB-902"}
    fresh = retrieval.search(collection, "annual plan refund 14 days", k=5,
                             where={"updated_day": {"$gte": retrieval.day_number("2025-01-01")}})
    assert "KB-901" not in retrieval.article_ids(fresh) and len(fresh) == 5


def test_search_many_answers_each_query_in_order(collection):
    retrieval.index_articles(collection, [REFUNDS, PASSWORD], retrieval.chunk_by_heading)
    results = retrieval.search_many(collection, ["reset link expired", "partial refund for a month"], k=1)
    assert [r[0].chunk_id for r in results] == ["KB-902:001", "KB-900:002"]
    assert retrieval.search_many(collection, [], k=3) == []


def test_collection_names_need_three_characters(client):
    with pytest.raises(ValueError, match="3 to 512"):
        retrieval.open_collection(client, "kb")


def test_recall_at_k_is_a_hit_when_any_gold_article_is_in_the_first_k():
    ranked = ["KB-104", "KB-104", "KB-101", "KB-103"]
    assert [retrieval.recall_at_k(ranked, ["KB-103"], k) for k in (1, 3, 4, 10)] == [0.0, 0.0, 1.0, 1.0]
    assert retrieval.recall_at_k(ranked, ["KB-101", "KB-103"], 3) == 1.0
    assert retrieval.recall_at_k(ranked, [], 5) == 0.0


def test_reciprocal_rank_is_one_over_the_first_gold_rank():
    ranked = ["KB-104", "KB-104", "KB-101", "KB-103"]
    assert retrieval.reciprocal_rank(ranked, ["KB-103"]) == 0.25
    assert retrieval.reciprocal_rank(ranked, ["KB-103", "KB-101"]) == pytest.approx(1 / 3)
    assert retrieval.reciprocal_rank(ranked, ["KB-103"], k=3) == 0.0
    assert retrieval.reciprocal_rank(ranked, ["KB-104"]) == 1.0
    assert retrieval.reciprocal_rank([], ["KB-104"]) == 0.0


def test_tokenize_lowercases_and_drops_stop_words():
    assert retrieval.tokenize("How do I reset MY password in 60 min?") == ["reset", "password", "60", "min"]


def test_bm25_ranks_the_chunk_with_the_rare_keyword_first():
    chunks = [c for a in (REFUNDS, OLD_REFUNDS, PASSWORD) for c in retrieval.chunk_by_heading(a)]
    index = retrieval.BM25Index(chunks)
    hits = index.search("reset link expired", k=3)
    assert hits[0].chunk_id == "KB-902:001" and hits[0].score > hits[1].score
    old = index.search("refundable 14 days", k=1)
    assert old[0].article_id == "KB-901"
    fresh = index.search("refundable 14 days", k=2, keep=lambda c: c.updated >= "2025-01-01")
    assert "KB-901" not in retrieval.article_ids(fresh) and len(fresh) == 2
    with pytest.raises(ValueError, match="at least one chunk"):
        retrieval.BM25Index([])


def _hit(chunk_id: str, score: float = 0.0) -> retrieval.Hit:
    return retrieval.Hit(chunk_id=chunk_id, article_id=chunk_id.split(":")[0], title="", heading="",
                         updated="2026-01-01", text=chunk_id, score=score)


def test_reciprocal_rank_fusion_adds_one_over_c_plus_rank():
    vector = [_hit("A:0", 0.9), _hit("B:0", 0.8), _hit("C:0", 0.7)]
    keyword = [_hit("C:0", 12.0), _hit("A:0", 9.0), _hit("D:0", 3.0)]
    fused = retrieval.reciprocal_rank_fusion([vector, keyword], k=4, c=60)
    assert [h.chunk_id for h in fused] == ["A:0", "C:0", "B:0", "D:0"]
    assert [h.score for h in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63])
    assert fused[0].text == "A:0"
    # A tie keeps the order in which chunks were first seen.
    assert [h.chunk_id for h in retrieval.reciprocal_rank_fusion([[_hit("X:0")], [_hit("Y:0")]])] == ["X:0", "Y:0"]


def test_free_port_and_chroma_command():
    port = retrieval.free_port()
    assert 1024 <= port <= 65535
    command = retrieval.chroma_command(Path("/tmp/db"), port)
    assert command[-7:] == ["run", "--path", "/tmp/db", "--host", "127.0.0.1", "--port", str(port)]
    assert command[0] == sys.executable  # the CLI's Rust entry point, through this Python


def test_wait_for_chroma_reports_a_server_that_exited():
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait()
    with pytest.raises(ServerStartError, match="exited with code 3"):
        retrieval.wait_for_chroma(retrieval.free_port(), process=dead, timeout_s=5)
