"""heron's sandbox worker: runs the host's cells one at a time in one persistent namespace.

This file runs INSIDE the sandbox (bubblewrap), started by ``heron.tools.sandbox``; it uses the
standard library only and must not import heron. Usage::

    python worker.py CMD_FD REPLY_FD MARKER LIMITS_JSON

The host writes one JSON request per line on CMD_FD (``{"op": "run", "code": ..., "cpu_seconds":
..., "max_chars": ...}``) and reads one JSON reply per line on REPLY_FD. The first reply is
``{"ready": true, ...}``, sent once the resource limits are in force. MARKER only labels the
process (and every process forked from it) so the host can find them all.
"""

import ast
import builtins
import json
import linecache
import os
import resource
import sys
import tempfile
import traceback

FIGURE_DIR = "figures"


def main(argv):
    cmd_fd, reply_fd, limits = int(argv[1]), int(argv[2]), json.loads(argv[4])
    commands = os.fdopen(cmd_fd, "rb")
    replies = os.fdopen(reply_fd, "wb")
    for fd in (cmd_fd, reply_fd):
        os.set_inheritable(fd, False)  # programs the cell starts must not talk to the host
    capture = Capture(tempfile.mkdtemp(prefix="heron-cell-"))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # a cell reading stdin gets EOF, not the host's next request
    os.close(null)
    apply_limits(limits)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    send(replies, {"ready": True, "pid": os.getpid(), "uid": os.getuid(), "python": sys.version.split()[0]})
    cell_number = 0
    for line in commands:
        request = json.loads(line)
        if request.get("op") != "run":
            send(replies, {"error": "unknown request"})
            continue
        cell_number += 1
        send(replies, run_cell(request, namespace, capture, cell_number))


def apply_limits(limits):
    """Resource limits for this process and everything it starts; lowering never needs privileges."""
    names = {
        "address_space": resource.RLIMIT_AS,
        "processes": resource.RLIMIT_NPROC,
        "file_size": resource.RLIMIT_FSIZE,
        "open_files": resource.RLIMIT_NOFILE,
        "core": resource.RLIMIT_CORE,
    }
    for key, which in names.items():
        if key in limits:
            value = int(limits[key])
            resource.setrlimit(which, (value, value))


def set_cell_cpu_limit(seconds):
    """RLIMIT_CPU counts the whole life of the process, so each cell gets `used + seconds` (SIGXCPU).

    Only the soft limit moves (the hard one must stay above the total of all cells), so a cell could
    raise it again; the wall-clock limit, enforced from the host, is the backstop."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + int(seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


class Capture:
    """Per-cell files behind fds 1 and 2, so output of child processes is captured as well."""

    def __init__(self, folder):
        self.paths = (os.path.join(folder, "stdout"), os.path.join(folder, "stderr"))
        self.begin()

    def begin(self):
        self._flush()
        for fd in (1, 2):
            new = os.open(self.paths[fd - 1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(new, fd)
            os.close(new)
        # Streams that live as long as the worker; closefd=False keeps fds 1 and 2 open.
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115

    def read(self, max_chars):
        self._flush()
        return [read_truncated(path, max_chars) for path in self.paths]

    def _flush(self):
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass


def read_truncated(path, max_chars):
    """The file's text; when longer than max_chars, its head and tail around a note of what was cut."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if size <= max_chars:
            return fh.read().decode("utf-8", "replace")
        head_len = max_chars * 2 // 3
        head = fh.read(head_len).decode("utf-8", "replace")
        fh.seek(size - (max_chars - head_len))
        tail = fh.read().decode("utf-8", "replace")
    return head + "\n[... " + str(size - max_chars) + " characters cut ...]\n" + tail


def truncate(text, max_chars):
    if len(text) <= max_chars:
        return text
    head_len = max_chars * 2 // 3
    cut = len(text) - max_chars
    return (
        text[:head_len]
        + "\n[... "
        + str(cut)
        + " characters cut ...]\n"
        + text[len(text) - (max_chars - head_len) :]
    )


def run_cell(request, namespace, capture, number):
    """Run one cell; the value of a final expression is returned like in a notebook."""
    max_chars = int(request.get("max_chars", 20000))
    filename = "<cell " + str(number) + ">"
    code = request["code"]
    value, error = None, None
    capture.begin()
    set_cell_cpu_limit(request.get("cpu_seconds", 30))
    try:
        tree = ast.parse(code, filename, "exec")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        exec(compile(tree, filename, "exec"), namespace)
        if last is not None:
            result = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
            if result is not None:
                namespace["_"] = result
                value = truncate(repr(result), max_chars)
    except BaseException as exc:
        error = truncate(format_error(exc, filename), max_chars)
    figures = save_open_figures(number)
    stdout, stderr = capture.read(max_chars)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # a cell may have replaced them
    return {"stdout": stdout, "stderr": stderr, "value": value, "error": error, "figures": figures}


def format_error(exc, filename):
    """The traceback from the cell's first frame on; the worker's own frames are noise to the model."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) or tb is None:
        return "".join(traceback.format_exception_only(type(exc), exc))
    return "".join(traceback.format_exception(type(exc), exc, tb))


def save_open_figures(number):
    """Matplotlib figures left open by the cell, saved as PNGs in the workspace and closed."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    saved = []
    try:
        numbers = pyplot.get_fignums()
        if numbers:
            os.makedirs(FIGURE_DIR, exist_ok=True)
        for index, fig_number in enumerate(numbers, start=1):
            path = os.path.join(FIGURE_DIR, "cell" + str(number) + "-figure" + str(index) + ".png")
            pyplot.figure(fig_number).savefig(path)
            saved.append(path)
        pyplot.close("all")
    except Exception as exc:
        print("heron: could not save a figure: " + repr(exc), file=sys.stderr)
    return saved


def send(stream, message):
    stream.write(json.dumps(message).encode("utf-8") + b"\n")
    stream.flush()


if __name__ == "__main__":
    main(sys.argv)
