"""The code-execution sandbox: a persistent Python worker inside bubblewrap.

``Sandbox(workspace, settings.sandbox).run_cell(code)`` runs a cell and returns a
:class:`CellResult`; ``self_check(settings)`` tells whether sandboxes can start on this machine.
"""

from heron.tools.sandbox.cell import CellResult
from heron.tools.sandbox.selfcheck import SelfCheck, self_check
from heron.tools.sandbox.session import Sandbox, UnsafeSandboxWarning

__all__ = ["CellResult", "Sandbox", "SelfCheck", "UnsafeSandboxWarning", "self_check"]
