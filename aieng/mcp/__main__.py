"""Serve the support tools over stdio: `python -m aieng.mcp [--store PATH]`.

An MCP client starts this as its own process and talks to it over stdin/stdout; nothing else
may be printed on stdout, so messages go to stderr."""

from __future__ import annotations

import argparse
import sys

# The server never checks string formats, and this optional extra of jsonschema builds a parser
# when imported (about 1 s on 2 cores) that would delay the first answer; without it jsonschema
# simply skips the "iri" format. Only this process is affected.
sys.modules.setdefault("rfc3987_syntax", None)

from aieng.mcp_server import serve_stdio  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Parse the options and serve until the client disconnects."""
    parser = argparse.ArgumentParser(prog="python -m aieng.mcp", description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="the JSON store for tickets and refunds "
                                        "(default: artifacts/support_store.json in the workspace)")
    serve_stdio(parser.parse_args(argv).store)


if __name__ == "__main__":
    main()
