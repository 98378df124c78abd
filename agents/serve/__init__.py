"""``heron serve``: an OpenAI-compatible agent endpoint, a runs API and a local web page.

>>> from heron.agents.serve import create_app   # an ASGI app; or `heron serve` on the command line
"""

from heron.agents.serve.app import check_bind, create_app, serve

__all__ = ["check_bind", "create_app", "serve"]
