"""The retrieval path against a real `chroma run` server through chromadb.HttpClient (the classroom set-up).

Starts the server on a free loopback port with a temporary folder, indexes a slice of the help
center with the same functions the notebook uses on a local folder, checks re-indexing, filters
and recall on the questions of that slice, and stops the server. Under CI=true it must run."""

import os
import shutil
import subprocess
import sys

import pytest

from aieng import data, retrieval
from aieng.errors import ServerStartError
from conftest import ci_skip

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SECTIONS = ("Billing", "Plans")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    command = retrieval.chroma_command(tmp_path_factory.mktemp("chroma-server"), retrieval.free_port())
    if command[0] != sys.executable and not shutil.which(command[0]):  # neither the bindings nor the script
        ci_skip(f"The chroma CLI {command[0]!r} is missing: install chromadb (requirements.txt).")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    try:
        client = retrieval.wait_for_chroma(int(command[-1]), process=process, timeout_s=60)
        yield client, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_retrieval_through_a_chroma_server(server):
    client, process = server
    articles = [a for a in data.load_articles() if a.section in SECTIONS]
    article_ids = {a.id for a in articles}
    questions = data.load_questions()
    questions = questions[questions["gold_article_ids"].map(lambda gold: bool(gold) and set(gold) <= article_ids)]
    assert len(articles) >= 10 and len(questions) >= 15

    collection = retrieval.open_collection(client, "help-center-slice", fresh=True)
    report = retrieval.index_articles(collection, articles, retrieval.chunk_by_heading)
    assert report.written == report.n_chunks == collection.count() > len(articles)
    again = retrieval.index_articles(collection, articles, retrieval.chunk_by_heading)
    assert again.written == 0 and collection.count() == report.n_chunks  # no duplicates

    results = retrieval.search_many(collection, questions["question"].tolist(), k=5)
    recall = sum(retrieval.recall_at_k(retrieval.article_ids(hits), gold, 5)
                 for hits, gold in zip(results, questions["gold_article_ids"])) / len(questions)
    # A random pick of 5 chunks finds a gold article about a third of the time here; retrieval must beat it.
    assert recall >= 0.7, f"recall@5 through the server is {recall:.2f} on {len(questions)} questions"

    fresh = retrieval.search(collection, "refund for an annual plan", k=5,
                             where={"updated_day": {"$gte": retrieval.day_number("2025-09-15")}})
    assert fresh and "KB-104" not in retrieval.article_ids(fresh)  # the outdated 2024 refund article
    assert process.poll() is None  # the server is still up


def test_the_same_code_gives_the_same_ranking_on_a_local_folder(server, tmp_path):
    http_client, _ = server
    articles = [a for a in data.load_articles() if a.id in {"KB-101", "KB-103", "KB-105"}]
    rankings = []
    for client in (http_client, retrieval.persistent_client(tmp_path / "chroma")):
        collection = retrieval.open_collection(client, "billing-same", fresh=True)
        retrieval.index_articles(collection, articles, retrieval.chunk_by_heading)
        rankings.append([h.chunk_id for h in retrieval.search(collection, "I was charged twice", k=5)])
    assert rankings[0] == rankings[1]


def test_a_wrong_port_gives_a_clear_error():
    with pytest.raises(ServerStartError, match="No chroma server answered"):
        retrieval.wait_for_chroma(retrieval.free_port(), timeout_s=1)
