"""Errors the course raises, each saying what happened, the likely cause and what to do.

    AiengError                      base of everything below
    ├── BackendError                talking to a model endpoint went wrong
    │   ├── ServerNotInstalled      llama-cpp-python or the bundled model is missing
    │   ├── ServerStartError        the local server did not come up (log tail included)
    │   ├── EndpointUnreachable     nothing answered at the base URL (refused, DNS, timeout)
    │   ├── EndpointAuthError       the endpoint rejected the API key
    │   └── ModelNotChosen          the endpoint serves several models and AIENG_MODEL is unset
    ├── ModelOutputError            the model's reply is not what the code asked for
    └── ExerciseCheckFailed         a check failed under the test run (AIENG_CHECKS_STRICT=1)

Library errors are caught at the boundary and re-raised as these, `from` the original.
"""

from __future__ import annotations

__all__ = [
    "AiengError",
    "BackendError",
    "ServerNotInstalled",
    "ServerStartError",
    "EndpointUnreachable",
    "EndpointAuthError",
    "ModelNotChosen",
    "ModelOutputError",
    "ExerciseCheckFailed",
]


class AiengError(Exception):
    """Base class: every error the course raises on purpose."""


class BackendError(AiengError):
    """Reaching or starting a model endpoint failed."""


class ServerNotInstalled(BackendError):
    """The bundled local server cannot run: a package or the model file is missing."""


class ServerStartError(BackendError):
    """The local server process exited or never answered while starting."""


class EndpointUnreachable(BackendError):
    """No server answered at the configured base URL."""


class EndpointAuthError(BackendError):
    """The endpoint answered 401/403: the API key is missing or wrong."""


class ModelNotChosen(BackendError):
    """The endpoint serves several models and none was named."""


class ModelOutputError(AiengError):
    """The model's reply broke the contract the code asked for (JSON, schema, length)."""


class ExerciseCheckFailed(AiengError):
    """An exercise check did not pass while AIENG_CHECKS_STRICT=1 (the test run)."""
