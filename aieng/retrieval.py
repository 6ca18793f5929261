"""Retrieval over the help center: chunk the articles, index them in chromadb, search, measure.

Chapter 05 builds each idea in the notebook; this module is the packaged copy it and later
chapters use. Every function takes the chromadb client or collection as an argument, so the
same code runs against a folder on disk (`chromadb.PersistentClient`) and against a shared
`chroma run` server (`chromadb.HttpClient`).

- chunkers: `chunk_words` (word windows, with overlap), `chunk_fixed`, `chunk_by_heading`, each
  giving `Chunk` records that carry the article's id, title, section and update date;
- the vector index: `persistent_client`, `open_collection`, `index_articles` (stable chunk ids:
  re-indexing a changed article replaces its chunks and deletes those that no longer exist),
  `search` / `search_many` with chromadb metadata filters (`where=`), `day_number` for date filters;
- keyword search: `BM25Index`; a hybrid: `reciprocal_rank_fusion`;
- metrics, article-level: `article_ids`, `recall_at_k`, `reciprocal_rank`;
- a server for a classroom: `free_port`, `chroma_command`, `wait_for_chroma`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aieng.data import Article
from aieng.errors import ServerStartError
from aieng.workspace import workspace_dir

__all__ = [
    "CHROMA_DIR", "chroma_dir", "Chunk", "Hit", "IndexReport", "BM25Index",
    "chunk_words", "chunk_fixed", "chunk_by_heading", "day_number",
    "persistent_client", "open_collection", "index_articles", "delete_articles", "search", "search_many",
    "tokenize", "reciprocal_rank_fusion", "article_ids", "recall_at_k", "reciprocal_rank",
    "free_port", "chroma_command", "wait_for_chroma",
]



def chroma_dir() -> Path:
    """`chroma/` in the workspace of the moment (`workspace.workspace_dir()`): the collections live there."""
    return workspace_dir() / "chroma"


def __getattr__(name: str) -> Path:
    if name == "CHROMA_DIR":  # computed at each use, so $AIENG_WORKSPACE set later still counts
        return chroma_dir()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_BATCH = 256  # records per chromadb call: large enough to be quick, small enough for any server


# ---------------------------------------------------------------- chunking


@dataclass(frozen=True)
class Chunk:
    """One piece of an article, as it is indexed: its text and where it came from.

    `id` is stable (`KB-103:002` is the third chunk of KB-103), so indexing again replaces it."""

    id: str
    article_id: str
    title: str
    section: str
    updated: str  # ISO date from the article's front matter, e.g. "2026-03-09"
    heading: str  # the `##` heading the text sits under; "" for an intro or a fixed-size window
    position: int
    text: str

    @property
    def metadata(self) -> dict[str, str | int]:
        """The fields chromadb stores beside the text; `updated_day` (20260309) allows `$gte`/`$lt` filters."""
        return {"article_id": self.article_id, "title": self.title, "section": self.section,
                "updated": self.updated, "updated_day": day_number(self.updated), "heading": self.heading,
                "position": self.position}


def day_number(iso_date: str) -> int:
    """A date as a number chromadb can compare: "2026-03-09" -> 20260309."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso_date):
        raise ValueError(f"Expected a date like '2026-03-09', got {iso_date!r}.")
    return int(iso_date.replace("-", ""))


def chunk_words(text: str, size: int, overlap: int = 0) -> list[str]:
    """Windows of `size` words, each starting `size - overlap` words after the previous one.

    Words are split on whitespace and joined with single spaces. The last window is the first one
    that reaches the end of the text, so no window lies wholly inside the one before it."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"Need size >= 1 and 0 <= overlap < size; got size={size}, overlap={overlap}.")
    words = text.split()
    windows = []
    for start in range(0, len(words), size - overlap):
        windows.append(" ".join(words[start:start + size]))
        if start + size >= len(words):
            break
    return windows


def _chunk(article: Article, position: int, heading: str, text: str) -> Chunk:
    return Chunk(id=f"{article.id}:{position:03d}", article_id=article.id, title=article.title,
                 section=article.section, updated=article.updated, heading=heading, position=position, text=text)


def chunk_fixed(article: Article, *, size: int = 120, overlap: int = 0) -> list[Chunk]:
    """The article (title and body) cut into windows of `size` words, `overlap` words shared with the next."""
    return [_chunk(article, i, "", text) for i, text in enumerate(chunk_words(article.text, size, overlap))]


def chunk_by_heading(article: Article, *, max_words: int = 120) -> list[Chunk]:
    """One chunk per `##` section (the intro is one too), each starting with the title and heading.

    A section longer than `max_words` is cut into word windows, each keeping the title and heading
    (at 120 words nearly every chunk fits the 256 tokens all-MiniLM-L6-v2 reads)."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in article.body.splitlines():
        if line.startswith("## "):
            sections.append((line[3:].strip(), []))
        else:
            sections[-1][1].append(line)
    chunks: list[Chunk] = []
    for heading, lines in sections:
        body = "\n".join(lines).strip()
        if not body:
            continue
        header = f"{article.title} · {heading}" if heading else article.title
        pieces = [body] if len(body.split()) <= max_words else chunk_words(body, max_words)
        for piece in pieces:
            chunks.append(_chunk(article, len(chunks), heading, f"{header}\n\n{piece}"))
    return chunks


# ---------------------------------------------------------------- the vector index


def persistent_client(path: str | Path | None = None) -> Any:
    """A chromadb client that keeps its collections in the folder `path` (default `chroma_dir()`, created if
    missing), telemetry off."""
    import chromadb
    from chromadb.config import Settings

    path = chroma_dir() if path is None else path
    Path(path).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))


def open_collection(client: Any, name: str, *, fresh: bool = False) -> Any:
    """The collection `name` (created if missing), embedding with the bundled MiniLM, cosine distance.

    `fresh=True` deletes what the collection held first. Works with any chromadb client."""
    from aieng.embeddings import chroma_embedding_function

    if len(name) < 3:
        raise ValueError(f"chromadb collection names need 3 to 512 characters; {name!r} is too short.")
    if fresh and name in {c if isinstance(c, str) else c.name for c in client.list_collections()}:
        client.delete_collection(name)
    return client.get_or_create_collection(name, embedding_function=chroma_embedding_function(),
                                           configuration={"hnsw": {"space": "cosine"}})


@dataclass(frozen=True)
class IndexReport:
    """What `index_articles` did: chunks written (new or changed), left as they were, and deleted."""

    n_chunks: int
    written: int
    unchanged: int
    deleted: int


def index_articles(collection: Any, articles: Sequence[Article],
                   chunker: Callable[[Article], list[Chunk]]) -> IndexReport:
    """Bring the collection up to date with `articles`: upsert new or changed chunks, delete stale ones.

    Chunk ids are stable, so indexing again never duplicates: an unchanged chunk is skipped (not
    embedded again), a changed one replaced, and a chunk an article no longer has is deleted.
    Articles not passed in are left alone (see `delete_articles`)."""
    chunks = [chunk for article in articles for chunk in chunker(article)]
    if len({chunk.id for chunk in chunks}) != len(chunks):
        raise ValueError("Two chunks share an id: pass each article once.")
    stored: dict[str, tuple[str, dict]] = {}
    ids = sorted({article.id for article in articles})
    for start in range(0, len(ids), _BATCH):
        found = collection.get(where={"article_id": {"$in": ids[start:start + _BATCH]}},
                               include=["documents", "metadatas"])
        stored.update(zip(found["ids"], zip(found["documents"], found["metadatas"])))
    changed = [chunk for chunk in chunks if stored.get(chunk.id) != (chunk.text, chunk.metadata)]
    for start in range(0, len(changed), _BATCH):
        batch = changed[start:start + _BATCH]
        collection.upsert(ids=[c.id for c in batch], documents=[c.text for c in batch],
                          metadatas=[c.metadata for c in batch])
    stale = sorted(set(stored) - {chunk.id for chunk in chunks})
    for start in range(0, len(stale), _BATCH):
        collection.delete(ids=stale[start:start + _BATCH])
    return IndexReport(n_chunks=len(chunks), written=len(changed), unchanged=len(chunks) - len(changed),
                       deleted=len(stale))


def delete_articles(collection: Any, article_ids: Sequence[str]) -> int:
    """Remove every chunk of the given articles (an article taken down); returns how many were deleted."""
    found = collection.get(where={"article_id": {"$in": list(article_ids)}}, include=[]) if article_ids else {"ids": []}
    if found["ids"]:
        collection.delete(ids=found["ids"])
    return len(found["ids"])


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk; `score` is higher for better (cosine similarity, BM25 score or fused score)."""

    chunk_id: str
    article_id: str
    title: str
    heading: str
    updated: str
    text: str
    score: float


def search_many(collection: Any, queries: Sequence[str], *, k: int = 5, where: dict | None = None) -> list[list[Hit]]:
    """The `k` nearest chunks for each query, best first; `where` is a chromadb metadata filter.

    Example filters: `{"section": "Billing"}`, `{"updated_day": {"$gte": 20251001}}`.
    A hit's score is the cosine similarity (1 - cosine distance)."""
    if not queries:
        return []
    result = collection.query(query_texts=list(queries), n_results=k, where=where,
                              include=["documents", "metadatas", "distances"])
    return [[Hit(chunk_id=i, article_id=m["article_id"], title=m["title"], heading=m["heading"],
                 updated=m["updated"], text=doc, score=1.0 - dist)
             for i, doc, m, dist in zip(ids, docs, metas, dists)]
            for ids, docs, metas, dists in zip(result["ids"], result["documents"], result["metadatas"],
                                               result["distances"])]


def search(collection: Any, query: str, *, k: int = 5, where: dict | None = None) -> list[Hit]:
    """The `k` chunks nearest to `query`, best first (see `search_many`)."""
    return search_many(collection, [query], k=k, where=where)[0]


# ---------------------------------------------------------------- keyword search and hybrid

_STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from has have how i if in is it its me my no not of on or our "
    "so that the their them there this to was we what when where which who why will with you your".split())


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers, common English stop words removed: what BM25 counts."""
    return [word for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in _STOPWORDS]


class BM25Index:
    """Keyword search over chunks with BM25 (rank-bm25's Okapi variant): `BM25Index(chunks).search(query)`."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        from rank_bm25 import BM25Okapi

        if not chunks:
            raise ValueError("BM25Index needs at least one chunk.")
        self.chunks = list(chunks)
        self._bm25 = BM25Okapi([tokenize(chunk.text) for chunk in self.chunks])

    def search(self, query: str, *, k: int = 5, keep: Callable[[Chunk], bool] | None = None) -> list[Hit]:
        """The `k` best-scoring chunks, best first (ties in index order); `keep` filters chunks first."""
        scores = self._bm25.get_scores(tokenize(query))
        order = sorted(range(len(self.chunks)), key=lambda i: (-scores[i], i))
        hits = []
        for i in order:
            chunk = self.chunks[i]
            if keep is None or keep(chunk):
                hits.append(Hit(chunk_id=chunk.id, article_id=chunk.article_id, title=chunk.title,
                                heading=chunk.heading, updated=chunk.updated, text=chunk.text, score=float(scores[i])))
                if len(hits) == k:
                    break
        return hits


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hit]], *, k: int = 5, c: int = 60) -> list[Hit]:
    """One ranking from several: each chunk scores the sum of 1 / (c + rank) over the lists it is in.

    Ranks start at 1; `c` (60 in the original paper) damps the weight of the very top ranks.
    Ties keep the order in which chunks were first seen. The returned hits carry the fused score."""
    fused: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + 1.0 / (c + rank)
            first.setdefault(hit.chunk_id, hit)
    order = sorted(fused, key=lambda chunk_id: -fused[chunk_id])  # sorted() is stable: ties keep first-seen order
    return [Hit(**{**first[chunk_id].__dict__, "score": fused[chunk_id]}) for chunk_id in order[:k]]


# ---------------------------------------------------------------- metrics (article level)


def article_ids(hits: Sequence[Hit]) -> list[str]:
    """The article id of each hit, in rank order (an article appears once per chunk retrieved)."""
    return [hit.article_id for hit in hits]


def recall_at_k(retrieved_ids: Sequence[str], gold_ids: Collection[str], k: int) -> float:
    """1.0 when any of the first `k` retrieved article ids is a gold article, else 0.0.

    Averaged over questions this is recall@k (a hit rate). A question with no gold article scores 0.0."""
    return 1.0 if any(article_id in gold_ids for article_id in list(retrieved_ids)[:k]) else 0.0


def reciprocal_rank(retrieved_ids: Sequence[str], gold_ids: Collection[str], k: int | None = None) -> float:
    """1 / the rank (from 1) of the first gold article among the first `k` retrieved ids; 0.0 when none.

    Averaged over questions this is the mean reciprocal rank (MRR)."""
    for rank, article_id in enumerate(list(retrieved_ids)[:k], start=1):
        if article_id in gold_ids:
            return 1.0 / rank
    return 0.0


# ---------------------------------------------------------------- a chroma server for a classroom


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


_RUST_CLI = "import sys, chromadb_rust_bindings; chromadb_rust_bindings.cli(['chroma', *sys.argv[1:]])"


def chroma_command(path: str | Path, port: int, *, host: str = "127.0.0.1") -> list[str]:
    """The command that serves the chromadb folder `path` on `host:port`: `chroma run --path ... --port ...`.

    It calls the CLI's Rust entry point (`chromadb_rust_bindings.cli`) through this Python: the
    same server as the `chroma` script, minus the script's import of the whole chromadb package
    (about 10 s on a busy 2-core machine). Without the bindings it falls back to the `chroma` script."""
    args = ["run", "--path", str(path), "--host", host, "--port", str(port)]
    if importlib.util.find_spec("chromadb_rust_bindings") is not None:
        return [sys.executable, "-c", _RUST_CLI, *args]
    beside = Path(sys.executable).with_name("chroma")
    return [str(beside) if beside.exists() else shutil.which("chroma") or "chroma", *args]


def wait_for_chroma(port: int, *, host: str = "127.0.0.1", process: subprocess.Popen | None = None,
                    timeout_s: float = 30.0) -> Any:
    """A `chromadb.HttpClient` for the server at `host:port`, once it answers a heartbeat.

    Raises ServerStartError when `process` (the server, if you started it) exits first, or when
    nothing answers within `timeout_s` seconds."""
    import chromadb
    from chromadb.config import Settings

    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerStartError(
                f"The chroma server exited with code {process.returncode} before answering on {host}:{port}. "
                "Run the command by hand to read its error: " + " ".join(map(str, process.args)))
        try:
            client = chromadb.HttpClient(host=host, port=port, settings=Settings(anonymized_telemetry=False))
            client.heartbeat()
            return client
        except Exception as err:  # noqa: BLE001 - refused connections while the server starts
            last_error = err
            time.sleep(0.1)
    raise ServerStartError(f"No chroma server answered on {host}:{port} within {timeout_s:.0f} s "
                           f"(last error: {last_error}). Is `chroma run` running with --port {port}?")
