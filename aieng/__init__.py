"""aieng: the small helper package the course notebooks import.

Modules, one concern each: `backend` (the OpenAI client, local or remote), `local_server`
(start/stop the bundled server), `serving` and `openai_compat` (the server itself),
`checks` (exercise feedback), `exercises` and `workspace` (learner copies), `errors`.
Notebooks import modules, not names: `from aieng import backend`.
"""

__version__ = "0.1.0"
