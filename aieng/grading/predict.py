"""Call a submission's `triage(text)` on tickets it has never seen; run by the grader in a fresh process.

    python -m aieng.grading.predict SUBMISSION_DIR TEXTS.json OUT.json

TEXTS.json is a list of ticket texts (no ids, no labels). OUT.json gets one row per text:
{"intent", "priority", "error", "ms"}. A text whose call raises gets its error, never a crash of the run.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

__all__ = ["main"]


def _load(submission: Path):
    spec = importlib.util.spec_from_file_location("candidate_pipeline", submission / "pipeline.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"No pipeline.py in {submission}.")
    sys.path.insert(0, str(submission))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "triage", None)):
        raise SystemExit("pipeline.py defines no function triage(text).")
    return module.triage


def main(argv: list[str] | None = None) -> int:
    """Load pipeline.py, triage every text, write the rows; 2 when pipeline.py cannot be loaded."""
    submission, texts_path, out_path = (Path(a) for a in (argv or sys.argv[1:]))
    texts = json.loads(texts_path.read_text(encoding="utf-8"))
    try:
        triage = _load(submission.resolve())
    except BaseException as err:  # noqa: BLE001 - the candidate's import may raise anything, SystemExit included
        print(f"pipeline.py could not be loaded: {type(err).__name__}: {err}", file=sys.stderr)
        traceback.print_exc()
        return 2
    rows = []
    for text in texts:
        started = time.perf_counter()
        try:
            answer = triage(text)
            if not isinstance(answer, dict):
                raise TypeError(f"triage(text) must return a dict with 'intent'; it returned {type(answer).__name__}")
            row = {"intent": str(answer.get("intent")), "priority": answer.get("priority"), "error": ""}
        except Exception as err:  # noqa: BLE001
            row = {"intent": None, "priority": None, "error": f"{type(err).__name__}: {str(err)[:200]}"}
        row["ms"] = (time.perf_counter() - started) * 1000
        rows.append(row)
    Path(out_path).write_text(json.dumps(rows), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
