"""`python -m aieng.mcp`: the support tools served over stdio (see `aieng.mcp_server`)."""
