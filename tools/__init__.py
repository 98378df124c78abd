"""heron.tools: tool declaration, the registry, the code sandbox and the built-in tools."""
