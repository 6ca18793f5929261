"""Command line: `python -m aieng serve | stop | status | doctor | exercises | workspace`."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from aieng.errors import AiengError


def _serve(args: argparse.Namespace) -> int:
    from aieng import local_server, serving

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    running = local_server.running_server()
    if running and running.pid != os.getpid():
        print(f"A local server is already running at {running.base_url} (pid {running.pid}). "
              "Stop it first with `python -m aieng stop`.")
        return 1
    settings = serving.ServerSettings(model_path=local_server.model_path(), model_name=local_server.MODEL_NAME,
                                      n_threads=args.threads or (os.cpu_count() or 2))
    log_path = local_server.state_dir() / "server.log"

    def record(port: int) -> None:
        local_server.write_state(os.getpid(), port, log_path)

    # uvicorn re-raises SIGTERM after its graceful shutdown; exit through `finally` instead of dying there.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serving.serve(settings, host=args.host, port=args.port, on_ready=record)
    finally:
        state = local_server.state_dir() / "server.json"
        try:
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()
        except (OSError, ValueError):
            pass
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aieng", description="The course's helper commands.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local model server in the foreground")
    serve.add_argument("--port", type=int, default=8081, help="preferred port; a free one is taken if busy")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on; 0.0.0.0 serves a classroom (default: this machine only)")
    serve.add_argument("--threads", type=int, default=0, help="CPU threads (default: all cores)")
    serve.set_defaults(run=_serve)
    sub.add_parser("start", help="start (or reuse) the backend and print where it is").set_defaults(run=_start)
    sub.add_parser("stop", help="stop the running local server").set_defaults(run=_stop)
    sub.add_parser("status", help="say whether the local server runs, and where").set_defaults(run=_status)
    sub.add_parser("doctor", help="check the backend and every capability the course uses").set_defaults(run=_doctor)
    sub.add_parser("exercises", help="write notebooks/ from solutions/").set_defaults(run=_exercises)
    sub.add_parser("workspace", help="copy exercise notebooks you lack into workspace/").set_defaults(run=_workspace)
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
