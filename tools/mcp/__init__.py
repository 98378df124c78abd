"""MCP client: the tools of Model Context Protocol servers as heron tools (``MCPToolset``).

Servers are configured in ``heron.toml`` (``[mcp.servers.NAME]``) or in a task file (``mcp:``), or
built in code::

    from heron.config import MCPServerSettings
    from heron.tools.mcp import MCPToolset

    with MCPToolset("time", MCPServerSettings(command="mcp-server-time")) as time_tools:
        agent = Agent(tools=time_tools.tools())

heron serves its own tools over MCP too: ``heron mcp serve`` (``heron.agents.mcp_server``).
"""

from heron.tools.mcp.connection import MCPConnection, ServerCrashed
from heron.tools.mcp.toolset import MCPServers, MCPTool, MCPToolset, call_result, untrusted_description

__all__ = [
    "MCPConnection",
    "MCPServers",
    "MCPTool",
    "MCPToolset",
    "ServerCrashed",
    "call_result",
    "untrusted_description",
]
