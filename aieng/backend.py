"""One OpenAI client for every notebook: the bundled local model, or any endpoint you name.

    from aieng import backend
    llm = backend.connect()          # prints: local · SmolLM2-135M-Instruct · http://127.0.0.1:8081/v1
    llm.client.chat.completions.create(model=llm.model, messages=[...])

`OPENAI_BASE_URL` is the switch. Unset: the bundled local server is started (or reused) and
no API key is needed, even if `OPENAI_API_KEY` happens to be set. Set: that endpoint is used
with `OPENAI_API_KEY`, and the model is `AIENG_MODEL`, or the endpoint's only model, or the bundled
model when the endpoint serves it among others. Locally, `AIENG_MODEL` picks another model the
local server serves (a fine-tuned one, chapter 08); unset, it is the bundled one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import openai

from aieng import call_replay, local_server
from aieng.errors import AiengError, EndpointAuthError, EndpointUnreachable, ModelNotChosen

__all__ = ["Backend", "CourseClient", "connect", "describe_switch"]

_SWITCH_HINT = "set OPENAI_BASE_URL and OPENAI_API_KEY (and AIENG_MODEL) to use another endpoint"


def describe_switch() -> str:
    """One line on how to point the course at another endpoint."""
    return f"To switch, {_SWITCH_HINT}, then restart the kernel."


class CourseClient(openai.OpenAI):
    """An `openai.OpenAI` client whose connection and key errors say what to do next.

    Everything else is the plain client: learners call `client.chat.completions.create(...)`."""

    _course_hint: str = ""

    def request(self, *args, **kwargs):  # type: ignore[override]
        try:
            return super().request(*args, **kwargs)
        except openai.APIConnectionError as err:
            raise EndpointUnreachable(
                f"No model server answered at {self.base_url} ({type(err).__name__}). {self._course_hint}"
            ) from None
        except openai.AuthenticationError:
            raise EndpointAuthError(
                f"The endpoint at {self.base_url} rejected the API key (401). "
                "Check OPENAI_API_KEY (no quotes, no spaces), then restart the kernel."
            ) from None
        except openai.PermissionDeniedError:
            raise EndpointAuthError(
                f"The endpoint at {self.base_url} refused access (403): the key lacks permission for this model or project."
            ) from None


@dataclass(frozen=True)
class Backend:
    """The client and model a notebook talks to, and where they are."""

    client: openai.OpenAI
    model: str
    base_url: str
    is_local: bool

    def __str__(self) -> str:
        where = "local" if self.is_local else "remote"
        return f"{where} · {self.model} · {self.base_url}"


def _install_short_errors() -> None:
    """In IPython, show course errors as one clear message instead of a long traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def show(shell, etype, value, tb, tb_offset=None):
        return [f"\x1b[31m{etype.__name__}\x1b[0m: {value}"]

    def handler(shell, etype, value, tb, tb_offset=None):
        shell._showtraceback(etype, value, show(shell, etype, value, tb))
        return show(shell, etype, value, tb)

    shell.set_custom_exc((AiengError,), handler)


def _connect_local(*, verbose: bool) -> Backend:
    server = local_server.ensure_running()
    client = CourseClient(base_url=server.base_url, api_key=server.api_key or "local", max_retries=0, timeout=300,
                          http_client=call_replay.http_client())
    client._course_hint = (
        f"The local server may have stopped or crashed (log: {server.log_path}). "
        "Run `backend.connect()` again to restart it, or `python -m aieng doctor`."
    )
    if verbose and os.environ.get("OPENAI_API_KEY"):
        print(f"Using the local model; OPENAI_API_KEY is set but not used. {describe_switch()}")
    if verbose and (warning := local_server.competition_warning()):
        print(warning)
    model = server.model
    wanted = os.environ.get("AIENG_MODEL", "").strip()
    if wanted and wanted != model:  # a model installed beside the bundled one (chapter 08), when served
        served = [m.id for m in client.models.list()]
        if wanted in served:
            model = wanted
        elif verbose:
            print(f"AIENG_MODEL names {wanted!r}, which the local server does not serve ({', '.join(served)}); "
                  f"using {model}. Unset AIENG_MODEL, or set OPENAI_BASE_URL to the endpoint that serves it.")
    return Backend(client=client, model=model, base_url=server.base_url, is_local=True)


def _choose_model(client: openai.OpenAI, base_url: str) -> str:
    """AIENG_MODEL; else the endpoint's only model; else the bundled model when it is among several
    (a shared server that also serves fine-tuned models); else a clear error listing them."""
    wanted = os.environ.get("AIENG_MODEL")
    if wanted:
        return wanted
    served = [m.id for m in client.models.list()]
    if len(served) == 1:
        return served[0]
    if local_server.MODEL_NAME in served:
        return local_server.MODEL_NAME
    listing = ", ".join(sorted(served)[:30]) or "(none)"
    raise ModelNotChosen(
        f"The endpoint at {base_url} serves {len(served)} models; set AIENG_MODEL to one of them, "
        f"e.g. AIENG_MODEL={sorted(served)[0] if served else 'NAME'}. Served: {listing}"
    )


def _connect_remote(base_url: str) -> Backend:
    api_key = os.environ.get("OPENAI_API_KEY")
    if not api_key:
        raise EndpointAuthError(
            f"OPENAI_BASE_URL is set ({base_url}) but OPENAI_API_KEY is not. Set it to your key "
            "(any non-empty text for servers without keys), or unset OPENAI_BASE_URL to use the local model."
        )
    client = CourseClient(base_url=base_url, api_key=api_key, max_retries=2, timeout=120,
                          http_client=call_replay.http_client())
    client._course_hint = "Check OPENAI_BASE_URL (it usually ends in /v1) and that the server is running."
    model = _choose_model(client, base_url)
    return Backend(client=client, model=model, base_url=str(client.base_url).rstrip("/"), is_local=False)


def connect(*, verbose: bool = True) -> Backend:
    """The client and model for this notebook; starts the bundled local server when needed.

    Side effects: may start a detached server process; in IPython, course errors print as
    one line. Raises a `BackendError` subclass that says what to do when nothing works."""
    _install_short_errors()
    base_url = os.environ.get("OPENAI_BASE_URL", "").strip()
    backend = _connect_remote(base_url) if base_url else _connect_local(verbose=verbose)
    if verbose:
        print(backend)
    return backend
