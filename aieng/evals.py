"""Evals: code-based scorers, a model judge, agreement, bootstrap intervals, results as files.

Chapter 04 writes each idea out in the notebook first; this module is the packaged copy that
later chapters import (`from aieng import evals`, then `evals.judge(...)`).

    scorers      exact_match, label_in_set, json_valid, matches, length_between  (text -> bool)
    judge        judge(client, model, rubric=..., question=..., answer=...) -> JudgeVerdict
    agreement    agreement(a, b), cohen_kappa(a, b)           (two graders over the same items)
    uncertainty  bootstrap_ci(values), paired_bootstrap(a, b) (how sure is a score, a difference?)
    files        save_results(rows, path, ...), load_results(path), summarize(...) -> EvalReport
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd

from aieng import replies
from aieng.errors import ModelOutputError
from aieng.files import read_jsonl, write_atomic
from aieng.workspace import workspace_dir

__all__ = [
    "RESULTS_DIR", "JUDGE_SCHEMA",
    "exact_match", "label_in_set", "json_valid", "matches", "length_between",
    "JudgeVerdict", "judge", "judge_messages",
    "agreement", "cohen_kappa",
    "bootstrap_ci", "PairedComparison", "paired_bootstrap",
    "EvalReport", "summarize", "save_results", "load_results",
]


def __getattr__(name: str) -> Path:
    if name == "RESULTS_DIR":  # evals/ in the workspace, computed at each use ($AIENG_WORKSPACE under tests)
        return workspace_dir() / "evals"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------- code-based scorers

def exact_match(pred: str, gold: str) -> bool:
    """True when `pred` equals `gold`, ignoring case and surrounding whitespace."""
    return str(pred).strip().casefold() == str(gold).strip().casefold()


def label_in_set(pred: str, labels: Iterable[str]) -> bool:
    """True when `pred` is exactly one of `labels` (an allowed intent, priority, ...)."""
    return pred in set(labels)


def json_valid(text: str, schema: dict) -> bool:
    """True when `text` parses as JSON and the result validates against the JSON `schema`."""
    try:
        jsonschema.validate(json.loads(text), schema)
    except (ValueError, TypeError, jsonschema.ValidationError):
        return False
    return True


def matches(text: str, pattern: str) -> bool:
    """True when the regular expression `pattern` is found anywhere in `text` (`re.search`)."""
    return re.search(pattern, text) is not None


def length_between(text: str, lo: int, hi: int) -> bool:
    """True when `text` has between `lo` and `hi` characters, both included."""
    return lo <= len(text) <= hi


# ---------------------------------------------------------------- the judge

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "passed": {"type": "boolean"},
        "reason": {"type": "string", "maxLength": 160},
    },
    "required": ["passed", "reason"],
    "additionalProperties": False,
}

_JUDGE_FORMAT = ('Grade the answer against the rubric. Reply with JSON only: "passed" is true or false, '
                 '"reason" says why in one short sentence.')


@dataclass(frozen=True)
class JudgeVerdict:
    """A judge's grade of one answer: passed or not, and its one-sentence reason."""

    passed: bool
    reason: str


def judge_messages(*, rubric: str, question: str, answer: str, context: str = "") -> list[dict[str, str]]:
    """The chat messages the judge sends: the fixed rubric first (prefix cache), the item last."""
    item = f"Question:\n{question}\n\n"
    if context:
        item += f"Reference:\n{context}\n\n"
    item += f"Answer to grade:\n{answer}"
    return [{"role": "system", "content": f"{rubric.strip()}\n\n{_JUDGE_FORMAT}"},
            {"role": "user", "content": item}]


def judge(client: Any, model: str, *, rubric: str, question: str, answer: str, context: str = "") -> JudgeVerdict:
    """A model's pass/fail grade of `answer` under `rubric`, with its reason.

    The reply is constrained to JUDGE_SCHEMA at temperature 0 (`strict` off: some endpoints refuse
    `maxLength` in strict mode; the reply is checked here either way); `context` (a reference answer
    or an article) is shown to the judge when given. Raises ModelOutputError on a broken reply."""
    completion = client.chat.completions.create(
        model=model,
        messages=judge_messages(rubric=rubric, question=question, answer=answer, context=context),
        response_format={"type": "json_schema",
                         "json_schema": {"name": "verdict", "schema": JUDGE_SCHEMA, "strict": False}},
        temperature=0,
        seed=0,
        max_tokens=120,
    )
    verdict = replies.json_of(completion)
    if not isinstance(verdict, dict) or not isinstance(verdict.get("passed"), bool):
        raise ModelOutputError(f"The judge's reply has no boolean 'passed' field: {str(verdict)[:120]!r}.")
    return JudgeVerdict(passed=verdict["passed"], reason=str(verdict.get("reason", "")).strip())


# ---------------------------------------------------------------- agreement between two graders

def agreement(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Share of items on which two graders give the same label (raw agreement, 0 to 1)."""
    a, b = list(a), list(b)
    if len(a) != len(b) or not a:
        raise ValueError(f"Both graders must label the same non-empty list of items; got {len(a)} and {len(b)} labels.")
    return sum(x == y for x, y in zip(a, b)) / len(a)


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Cohen's kappa: agreement beyond what chance gives, (p_o - p_e) / (1 - p_e).

    1 is perfect agreement, 0 is chance level (a grader that always says "pass" gets 0),
    below 0 is worse than chance. NaN when chance agreement is already total (both graders
    give one and the same label to everything)."""
    observed = agreement(a, b)
    a, b = list(a), list(b)
    n = len(a)
    expected = sum((a.count(label) / n) * (b.count(label) / n) for label in set(a) | set(b))
    if expected == 1:
        return float("nan")
    return (observed - expected) / (1 - expected)


# ---------------------------------------------------------------- how sure are we?

def bootstrap_ci(values: Sequence[float], *, n_resamples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) for the mean of `values` (e.g. 0/1 scores).

    Resamples the items with replacement `n_resamples` times; fixed by `seed`."""
    scores = np.asarray(list(values), dtype=float)
    if scores.size == 0:
        raise ValueError("bootstrap_ci needs at least one value.")
    rng = np.random.default_rng(seed)
    means = scores[rng.integers(0, scores.size, size=(n_resamples, scores.size))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


@dataclass(frozen=True)
class PairedComparison:
    """B minus A on the same items: mean difference, its bootstrap interval, and how often B < A or B > A."""

    mean_diff: float
    ci_low: float
    ci_high: float
    share_b_not_better: float  # share of resamples where B's mean is not above A's
    n: int

    @property
    def is_clear(self) -> bool:
        """True when the interval excludes 0: the difference is unlikely to be noise."""
        return self.ci_low > 0 or self.ci_high < 0


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_resamples: int = 1000, seed: int = 0,
                     level: float = 0.95) -> PairedComparison:
    """Paired bootstrap of mean(b) - mean(a), where a[i] and b[i] score the same item i."""
    a_scores, b_scores = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if a_scores.shape != b_scores.shape or a_scores.size == 0:
        raise ValueError(f"Paired scores need the same non-empty items; got {a_scores.size} and {b_scores.size}.")
    diffs = b_scores - a_scores
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(n_resamples, diffs.size))].mean(axis=1)
    tail = (1 - level) / 2
    return PairedComparison(mean_diff=float(diffs.mean()), ci_low=float(np.quantile(means, tail)),
                            ci_high=float(np.quantile(means, 1 - tail)),
                            share_b_not_better=float((means <= 0).mean()), n=int(diffs.size))


# ---------------------------------------------------------------- reports and files

@dataclass(frozen=True)
class EvalReport:
    """One metric of one prompt version on one model: mean score, its 95% interval, item count."""

    metric: str
    score: float
    ci_low: float
    ci_high: float
    n: int
    prompt_version: str
    model: str

    def __str__(self) -> str:
        return (f"{self.metric} · {self.prompt_version} · {self.model}: {self.score:.2f} "
                f"(95% CI {self.ci_low:.2f}-{self.ci_high:.2f}, n={self.n})")


def summarize(values: Sequence[float], *, metric: str, prompt_version: str, model: str,
              seed: int = 0) -> EvalReport:
    """An EvalReport of per-item scores `values` (0/1 or in between), with a bootstrap interval."""
    scores = [float(v) for v in values]
    low, high = bootstrap_ci(scores, seed=seed)
    return EvalReport(metric=metric, score=float(np.mean(scores)), ci_low=low, ci_high=high, n=len(scores),
                      prompt_version=prompt_version, model=model)


def save_results(rows: Iterable[dict[str, Any]] | pd.DataFrame, path: str | Path, *, prompt_version: str,
                 model: str) -> Path:
    """Append one eval run to the JSONL file `path`, one line per item; returns the path.

    Each line gets `prompt_version`, `model`, `run_at` (UTC, ISO 8601, the same for the whole
    run) besides the row's own fields. Creates the folder; earlier runs are kept. The file is replaced
    atomically (old runs plus the new one), so an interrupted save leaves the earlier runs whole."""
    records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else [dict(r) for r in rows]
    run_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({**r, "prompt_version": prompt_version, "model": model, "run_at": run_at}, default=_plain)
             for r in records]
    earlier = path.read_text(encoding="utf-8") if path.exists() else ""
    if earlier and not earlier.endswith("\n"):
        earlier += "\n"
    return write_atomic(path, earlier + "".join(line + "\n" for line in lines))


def load_results(path: str | Path, *, latest_only: bool = False) -> pd.DataFrame:
    """Every run stored in the JSONL file `path` (columns: the rows' fields, prompt_version, model, run_at).

    With `latest_only`, keeps only the newest run of each (prompt_version, model)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No eval results at {path}. Run an eval and save it with evals.save_results first.")
    results = pd.DataFrame(read_jsonl(path, hint="A run cut short can leave a torn last line: delete it, "
                                                   "or re-run the eval and save it again."))
    if latest_only and not results.empty:
        newest = results.groupby(["prompt_version", "model"])["run_at"].transform("max")
        results = results[results["run_at"] == newest].reset_index(drop=True)
    return results


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and timestamps that pandas rows carry."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, datetime)):
        return value.isoformat()
    return str(value)
