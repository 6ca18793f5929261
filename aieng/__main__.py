"""Command line: `python -m aieng serve | stop | status | doctor | exercises | workspace | progress`."""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
from pathlib import Path

from aieng.errors import AiengError


def _serve(args: argparse.Namespace) -> int:
    from aieng import local_server, serving

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_file = Path(os.path.abspath(args.model)) if args.model else local_server.model_path()
    if not model_file.is_file():
        print(f"No model file at {model_file}: pass a .gguf file with --model.", file=sys.stderr)
        return 2
    api_key = os.environ.get("AIENG_API_KEY", "").strip() or None
    classroom = not serving.is_loopback(args.host)
    if classroom and not api_key:
        print(f"Serving on {args.host} lets other machines in, so the server needs a key. Start it with one, e.g.\n"
              f"  AIENG_API_KEY={secrets.token_urlsafe(12)} python -m aieng serve --host {args.host}\n"
              "and give learners that key as OPENAI_API_KEY.", file=sys.stderr)
        return 2
    # uvicorn re-raises SIGTERM after its graceful shutdown; exit through `finally` instead of dying there.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A detached start runs under its parent's start lock; `make serve` takes the same lock here and
    # holds it until its record is written, so it never races a notebook's start.
    with contextlib.nullcontext() if args.spawned else local_server.start_lock():
        if not args.spawned and (running := local_server.reconcile(wait_s=local_server.HUNG_AFTER_S)):
            print(f"A local server is already running at {running.base_url} (pid {running.pid}). "
                  "Stop it first with `python -m aieng stop`.")
            return 1
        try:
            sock = serving.bind_socket(args.host, args.prefer_port if args.port is None else args.port,
                                       exact=args.port is not None)
        except OSError as err:
            print(f"{err} Choose another port with --port N, or leave --port out to take a free one.", file=sys.stderr)
            return 2
        settings = serving.ServerSettings(
            model_path=model_file, model_name=local_server.served_name(model_file),
            n_threads=args.threads or (os.cpu_count() or 2), api_key=api_key if classroom else None,
            allowed_hosts=serving.allowed_hosts(args.host, args.allow_host), deadline_s=args.deadline,
            code_hash=local_server.code_hash(), models_dir=local_server.models_dir())
        app = serving.create_app(settings)  # loads the model
        local_server.write_state(sock.getsockname()[1], local_server.state_dir() / "server.log", host=args.host,
                                 model_file=model_file, code=settings.code_hash, api_key=settings.api_key,
                                 detached=args.spawned)
    try:
        serving.run(app, sock, settings, host=args.host)
    finally:
        local_server.forget(os.getpid())
    return 0


def _start(args: argparse.Namespace) -> int:
    from aieng import backend

    backend.connect()
    return 0


def _stop(args: argparse.Namespace) -> int:
    from aieng import local_server

    print("Stopped the local model server." if local_server.stop() else "No local model server was running.")
    return 0


def _status(args: argparse.Namespace) -> int:
    from aieng import local_server

    server = local_server.running_server()
    print(f"running · {server.model} · {server.base_url} · pid {server.pid}" if server else "not running")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from aieng import doctor

    return 0 if doctor.run() else 1


def _exercises(args: argparse.Namespace) -> int:
    from aieng import exercises

    for path in exercises.write_all():
        print(f"wrote {path}")
    return 0


def _workspace(args: argparse.Namespace) -> int:
    from aieng import workspace

    copied, kept = workspace.sync()
    for path in copied:
        print(f"copied {path}")
    for path in kept:
        print(f"kept your {path}; the newer version of the chapter is beside it (*.new-*.ipynb)")
    return 0


def _progress(args: argparse.Namespace) -> int:
    from aieng import progress

    progress.show(args.chapter)
    return 0


def _grade(args: argparse.Namespace) -> int:
    from aieng import grading

    limits = grading.Limits(notebook_s=args.timeout, memory_mb=args.memory_mb)
    target = Path(args.submission)
    if target.is_dir():
        table = grading.grade_folder(target, hidden_tests=args.hidden_tests, out=args.out, limits=limits)
        print(table.drop(columns=["report"]).to_string(index=False))
        print(f"reports and summary.md in {Path(args.out) if args.out else target / 'reports'}")
        return 0
    report = grading.grade(target, hidden_tests=args.hidden_tests, out=args.out, limits=limits)
    print(f"{report.submission}: {report.total} / {report.max_total} ({report.status}) · "
          + " · ".join(f"{c.name} {c.points}/{c.max_points}" for c in report.criteria))
    print(f"report: {Path(args.out) if args.out else target.with_name(target.stem + '-report')}/report.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aieng", description="The course's helper commands.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local model server in the foreground")
    serve.add_argument("--port", type=int, default=None,
                       help="port to listen on; an error if it is taken (default: 8081, or a free port if 8081 is taken)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 serves a classroom and needs AIENG_API_KEY "
                            "(default: this machine only)")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="another name learners use to reach this machine (repeatable; its names and "
                            "addresses are allowed already)")
    serve.add_argument("--model", default=None, help="GGUF file to serve (default: $AIENG_GGUF, else the bundled model)")
    serve.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    serve.add_argument("--deadline", type=float, default=120.0,
                       help="seconds a request may take, waiting for its turn included (default: 120)")
    serve.add_argument("--prefer-port", type=int, default=8081, help=argparse.SUPPRESS)
    serve.add_argument("--spawned", action="store_true", help=argparse.SUPPRESS)  # started by connect(), lock held
    serve.set_defaults(run=_serve)
    sub.add_parser("start", help="start (or reuse) the backend and print where it is").set_defaults(run=_start)
    sub.add_parser("stop", help="stop the running local server").set_defaults(run=_stop)
    sub.add_parser("status", help="say whether the local server runs, and where").set_defaults(run=_status)
    sub.add_parser("doctor", help="check the backend and every capability the course uses").set_defaults(run=_doctor)
    sub.add_parser("exercises", help="write notebooks/ from solutions/").set_defaults(run=_exercises)
    sub.add_parser("workspace", help="copy exercise notebooks you lack into workspace/").set_defaults(run=_workspace)
    progress_cmd = sub.add_parser("progress", help="which exercises pass, per chapter, from your saved notebooks")
    progress_cmd.add_argument("chapter", nargs="?", default=None, help="one chapter, e.g. 05 (default: all)")
    progress_cmd.set_defaults(run=_progress)
    grade = sub.add_parser("grade", help="grade a take-home notebook, or every notebook in a folder (docs/hiring.md)")
    grade.add_argument("submission", help="a candidate's .ipynb, or a folder of them (one summary table)")
    grade.add_argument("--hidden-tests", default=None, metavar="DIR",
                       help="the hiring team's hidden tests: tickets.jsonl and test_*.py (default: the public sample)")
    grade.add_argument("--out", default=None, metavar="DIR", help="where reports go (default: beside the submission)")
    grade.add_argument("--timeout", type=float, default=120.0, help="seconds the notebook may run (default: 120)")
    grade.add_argument("--memory-mb", type=int, default=3000, help="RSS the notebook may use, in MB (default: 3000)")
    grade.set_defaults(run=_grade)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except AiengError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
