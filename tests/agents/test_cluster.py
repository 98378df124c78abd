"""`heron run --cluster` and `heron eval --cluster` on a real two-node Ray cluster started here, with
the run store on a real PostgreSQL server: a worker SIGKILLed mid-task is restarted by Ray, its task
resumes from the shared store's checkpoint, every tool call's side effect happens exactly once, and the
answers and eval figures equal a local run's. Real 135M model in every worker."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import ray
import ray.cloudpickle

from heron.agents import cluster as cluster_module
from heron.agents.cluster import ClusterPool
from heron.agents.cluster_worker import gpus_per_worker
from heron.agents.run_store import RunStore
from heron.agents.runner import TaskRunner
from heron.config import Settings, load_settings
from heron.errors import RunError, UsageError
from heron.llm import HTTPLLM, GenerationOptions, Message, ScriptedLLM
from heron.llm.base import LLM
from tests.agents.conftest import LEDGER_TOOL_SOURCE
from tests.conftest import FAST_MODEL, MACHINE_MODELS_DIR, SHARED_DATA
from tests.postgres_server import PostgresServer
from tests.ray_cluster import node_env, ray_cluster

pytestmark = pytest.mark.model

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))
TASK = """
name: ledger{index}
goal: Append the lines one, two and three to the ledger, then say done.
tools: ['side_tools:append_line']
steps:
  - {{do: "Append the line one.", tool: append_line, args: {{text: one}}}}
  - {{do: "Append the line two.", tool: append_line, args: {{text: two}}}}
  - {{do: "Append the line three.", tool: append_line, args: {{text: three}}}}
  - {{do: "Say that the ledger is done."}}
budget: {{max_steps: 12}}
workspace: ws{index}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("ray-home")
    with ray_cluster(node_env(dict(os.environ), home)) as address:
        yield address


def _tasks(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "side_tools.py").write_text(LEDGER_TOOL_SOURCE)
    paths = []
    for index in range(4):
        path = folder / f"ledger{index}.yaml"
        path.write_text(TASK.format(index=index))
        paths.append(path)
    return paths


def _env(data_dir: Path, run_store: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    return env | {
        "HERON_MODEL": FAST_MODEL,
        "HERON_MODELS_DIR": str(MACHINE_MODELS_DIR),
        "HERON_DATA_DIR": str(data_dir),
        "HERON_RUN_STORE": run_store,
        "HERON_CONTEXT_SIZE": "2048",
    }


def _busy_workers(call: str = "run_task", node: str = "") -> list[psutil.Process]:
    """Worker processes busy with ``call``; ``node``: only those on the Ray node whose id starts so
    (a worker's parent is its node's raylet, started with --node_id)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if not line.startswith(f"ray::HeronWorker.{call}"):
            continue
        with contextlib.suppress(psutil.Error):
            if f"--node_id={node}" in " ".join(process.parent().cmdline()):
                found.append(process)
    return found


def test_a_worker_killed_mid_task_is_replaced_and_every_task_succeeds_exactly_once(
    cluster: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    # the same four files run locally first, for the answers to compare with
    local_files = _tasks(tmp_path / "local")
    local = subprocess.run(
        [HERON, "run", *map(str, local_files), "--json", "-q"],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "local-data", str(tmp_path / "local-runs.sqlite3")),
        timeout=900,
        check=False,
    )
    assert local.returncode == 0, local.stderr[-2000:]
    local_answers = [json.loads(line)["answer"] for line in local.stdout.strip().splitlines()]

    files = _tasks(tmp_path / "cluster")
    store_url = postgres.new_database()
    submitted = subprocess.Popen(
        [HERON, "run", "--cluster", cluster, *map(str, files), "--json"],
        env=_env(tmp_path / "cluster-data", store_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 600
    with RunStore(store_url) as store:
        while killed is None and time.monotonic() < deadline and submitted.poll() is None:
            for run in (r for r in store.list_runs() if r.status == "running" and r.steps >= 2):
                # the worker driving this run, past its first checkpointed steps: on its Ray node
                busy = _busy_workers(node=(run.node or "/").split("/")[1])
                if busy:
                    killed, killed_run = busy[0].pid, run.id
                    os.kill(killed, signal.SIGKILL)
                    break
            time.sleep(0.05)
    stdout, stderr = submitted.communicate(timeout=900)
    assert killed is not None, "no worker was caught in the middle of a task"
    assert submitted.returncode == 0, stderr[-3000:]

    # printed as each finished: in the order of the files once sorted by task name
    outcomes = sorted((json.loads(line) for line in stdout.strip().splitlines()), key=lambda o: o["task"])
    assert [o["status"] for o in outcomes] == ["succeeded"] * 4
    # each answer is the model's own (succeeded), but not always the local run's to the last character:
    # a resumed run evaluates its prompt again in other batches, llama.cpp's logits move slightly with
    # the batch split (a yes/no probability 0.422 evaluated whole, 0.445 in batches of 8 tokens), and the
    # 135M's answer to this task is a run of digits whose tail moves with them
    assert all(o["answer"] for o in outcomes) and len(local_answers) == 4 and all(local_answers)
    for index in range(4):  # every side effect exactly once, in order
        assert (files[0].parent / f"ws{index}" / "ledger.txt").read_text().splitlines() == [
            "one",
            "two",
            "three",
        ]
    # the task of the killed worker was resumed from its checkpoint, and its trace says so
    resumed = [
        json.loads(line)
        for path in (tmp_path / "cluster-data" / "traces").glob("*.jsonl")
        for line in path.read_text().splitlines()
        if '"run_resumed"' in line
    ]
    assert killed_run in {e["run_id"] for e in resumed}, "the killed worker's run was not resumed"
    assert all(event["node"].count("/") == 1 for event in resumed)
    assert {e["run_id"] for e in resumed} <= {o["run_id"] for o in outcomes}
    with RunStore(store_url) as store:  # taken up again once: by the retry on a fresh worker
        assert store.get(killed_run).attempt == 2
    assert len({o["node"] for o in outcomes}) == 2  # both nodes ran tasks

    listed = subprocess.run(
        [HERON, "runs"],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "cluster-data", store_url),
        timeout=60,
        check=False,
    )
    assert all(o["run_id"] in listed.stdout for o in outcomes)


def test_a_sharded_eval_gives_exactly_the_local_figures(cluster: str, tmp_path: Path) -> None:
    figures = {}
    for where, extra in (("local", []), ("cluster", ["--cluster", cluster])):
        result = subprocess.run(
            [
                HERON,
                "eval",
                "truthfulqa",
                "--limit",
                "40",
                "--data",
                str(SHARED_DATA),
                "--out",
                str(tmp_path / where),
                *extra,
            ],
            capture_output=True,
            text=True,
            env=_env(tmp_path / "data", str(tmp_path / "runs.sqlite3")),
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        saved = json.loads(next((tmp_path / where).glob("*.json")).read_text())
        figures[where] = saved["suites"][0]["tables"][0]["rows"]
        assert saved["suites"][0]["items"] == {"TruthfulQA questions": 40}
    assert figures["cluster"] == figures["local"]


def test_doctor_checks_the_cluster_and_the_run_store(
    cluster: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    env = _env(tmp_path / "data", postgres.new_database()) | {"HERON_RAY_ADDRESS": cluster}
    result = subprocess.run(
        [HERON, "doctor", "--json"], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    checks = {c["name"]: c for c in json.loads(result.stdout)}  # (stdout: the JSON alone)
    assert "ray" not in result.stderr.lower(), result.stderr  # Ray's notices go to the log (-v)
    assert checks["cluster"]["status"] == "ok", checks["cluster"]
    assert f"{cluster}: 2 nodes on 1 machine, 2 CPUs" in checks["cluster"]["detail"]
    assert checks["run store"]["status"] == "ok"
    assert checks["run store"]["detail"].startswith("postgresql+psycopg://heron@127.0.0.1:")


def _heron(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HERON, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_an_address_where_no_cluster_answers_is_refused_with_the_fix(tmp_path: Path) -> None:
    from tests.postgres_server import free_port

    (tmp_path / "t.yaml").write_text("goal: say hi\n")
    env = _env(tmp_path / "data", str(tmp_path / "runs.sqlite3"))
    address = f"127.0.0.1:{free_port()}"
    result = _heron(["run", "--cluster", address, str(tmp_path / "t.yaml")], env)
    assert result.returncode == 2
    assert f"nothing answers at the Ray cluster address {address}" in result.stderr
    assert "ray start --head" in result.stderr
    doctor = _heron(
        ["doctor", "--json"], env | {"HERON_RUN_STORE": f"postgresql://heron@127.0.0.1:{free_port()}/runs"}
    )
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert doctor.returncode == 1 and checks["run store"]["status"] == "problem"
    assert "cannot reach the run store" in checks["run store"]["detail"]


def test_an_address_where_something_else_answers_is_refused_at_once(tmp_path: Path) -> None:
    """A web server (Ray's own dashboard, port 8265, is an easy mistake) or a database at the address:
    Ray would retry for minutes, logging connection failures; heron says what is wrong at once."""
    import http.server

    (tmp_path / "t.yaml").write_text("goal: say hi\n")
    env = _env(tmp_path / "data", str(tmp_path / "runs.sqlite3"))
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        address = f"127.0.0.1:{web.server_address[1]}"
        result = _heron(["run", "--cluster", address, str(tmp_path / "t.yaml")], env)
        doctor = _heron(["doctor", "--json"], env | {"HERON_RAY_ADDRESS": address})
    finally:
        web.shutdown()
    assert result.returncode == 2
    assert f"something answers at {address}, but not a Ray cluster's head" in result.stderr
    assert "8265 is its dashboard" in " ".join(result.stderr.split())
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert (
        checks["cluster"]["status"] == "problem" and "not a Ray cluster's head" in checks["cluster"]["detail"]
    )


# -- the pool itself, in this process, with a scripted model in each worker (orchestration) ----------

# the workers unpickle this module's functions by value: they need not import the tests
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _no_model(settings: Settings) -> LLM:
    return ScriptedLLM([])


def _item_where(llm: LLM, item: dict) -> tuple[int, int]:
    """(item, worker pid); item 5 stalls the first time, with its worker's pid in the marker file."""
    marker = Path(item["marker"])
    if item["i"] == 5 and not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(120)
    if item["i"] == item.get("bad"):
        raise ValueError(f"item {item['i']} is bad")
    return item["i"], os.getpid()


def _kill_when_marked(marker: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # (the pid is written)
    killed.append(int(marker.read_text()))
    os.kill(killed[0], signal.SIGKILL)


def test_items_run_in_the_workers_in_order_and_a_killed_workers_chunk_is_retried_on_a_fresh_one(
    cluster: str, tmp_path: Path
) -> None:
    marker = tmp_path / "stalled"
    items = [{"i": i, "marker": str(marker)} for i in range(16)]
    with ClusterPool(cluster, load_settings(), open_llm=_no_model, workers=2) as pool:
        started = {pid for pid, _ in pool.workers}
        handles = dict(zip([pid for pid, _ in pool.workers], pool.actors, strict=True))
        assert len({node for _, node in pool.workers}) == 2 and os.getpid() not in started
        killed: list[int] = []
        killer = threading.Thread(target=_kill_when_marked, args=(marker, killed))
        killer.start()
        results = pool.map_items(_item_where, items, chunk_size=2)
        killer.join()
        assert [i for i, _ in results] == list(range(16))  # every item once, in order
        pids = {pid for _, pid in results}
        assert killed[0] in started and dict(results)[5] != killed[0]  # item 5 ran again, elsewhere
        assert os.getpid() not in pids and len(pids) >= 2
        # the dead worker was replaced, not handed work again: both workers answer the next call
        assert handles[killed[0]] not in pool.actors and len(pool.actors) == 2
        again = pool.map_items(_item_where, items, chunk_size=1)
        assert [i for i, _ in again] == list(range(16)) and killed[0] not in {pid for _, pid in again}
        assert len({pid for _, pid in again}) == 2

        # a Python error in a worker fails its chunk with that error; the worker stays and goes on
        bad = [item | {"bad": 3} for item in items]
        with pytest.raises(RunError, match=r"1 of 8 chunks failed.*items 2-3: ValueError: item 3 is bad"):
            pool.map_items(_item_where, bad, chunk_size=2)
        assert [i for i, _ in pool.map_items(_item_where, items)] == list(range(16))


SLOW_LEDGER_TOOL = """
import os
import time
from heron import ToolContext, tool


@tool
def append_slow(text: str, ctx: ToolContext) -> str:
    \"\"\"Append one line to ledger.txt; the line two waits first, the first time, its pid in ./stalled.

    Args:
        text: the line to append
    \"\"\"
    marker = ctx.workspace / "stalled"
    if text == "two" and not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(120)
    with (ctx.workspace / "ledger.txt").open("a") as fh:
        fh.write(text + "\\n")
    return f"appended {text!r}"
"""


class LedgerScript(ScriptedLLM):
    """Appends one, then two, then answers: decided from the conversation, so a fresh worker (with a
    fresh script) continues a resumed run where it stood."""

    def _next(self, call: object) -> object:
        seen = " ".join(str(m.content) for m in getattr(call, "messages", ()))
        if "appended 'two'" in seen:
            return {"action": "final_answer", "answer": "the ledger is done", "citations": []}
        text = "two" if "appended 'one'" in seen else "one"
        return {"action": "append_slow", "arguments": {"text": text}}


def _ledger_script(settings: Settings) -> LLM:
    return LedgerScript()


def test_a_task_whose_worker_died_more_often_than_retries_allow_ends_interrupted_and_resumes(
    cluster: str, tmp_path: Path
) -> None:
    (tmp_path / "slow_tools.py").write_text(SLOW_LEDGER_TOOL)
    task = tmp_path / "slow.yaml"
    task.write_text(
        "name: slow\ngoal: Append one and two to the ledger.\ntools: ['slow_tools:append_slow']\n"
        "step_notes: false\nworkspace: ws\n"
    )
    settings = load_settings(cluster={"retries": 0})
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_marked, args=(tmp_path / "ws" / "stalled", killed))
    killer.start()
    with ClusterPool(cluster, settings, open_llm=_ledger_script, workers=1) as pool:
        (outcome,) = pool.run_tasks([task])
    killer.join()
    assert (outcome.status, outcome.task) == ("interrupted", "slow")  # as heron runs says
    assert "its worker died 1 time (cluster.retries = 0)" in outcome.error
    assert f"heron resume {outcome.run_id}" in outcome.note
    with RunStore.from_settings(settings) as store:
        assert store.get(outcome.run_id).status == "interrupted"  # not left "running"

    with TaskRunner(settings, LedgerScript()) as runner:  # resumed here, from its last checkpoint
        resumed = runner.resume(outcome.run_id)
    assert (resumed.status, resumed.answer) == ("succeeded", "the ledger is done")
    assert (tmp_path / "ws" / "ledger.txt").read_text().splitlines() == ["one", "two"]


def test_workers_that_cannot_be_placed_stop_the_start_in_time_with_the_gpus_found(
    cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "START_SECONDS", 5.0)
    began = time.monotonic()
    with pytest.raises(UsageError) as caught:  # a GPU each, on a cluster without one: never placed
        ClusterPool(cluster, load_settings(cluster={"worker_gpus": 1}), open_llm=_no_model, workers=1)
    assert time.monotonic() - began < 90
    assert "1 of 1 cluster workers did not start within 5 s" in caught.value.problem
    assert "1 GPU per worker asked; the cluster has 2 CPU and 0 GPU in all" in caught.value.problem
    assert "cluster.worker_gpus" in (caught.value.hint or "")
    assert not ray.is_initialized()  # the pool let go of the cluster


def test_auto_gpus_give_each_worker_a_whole_gpu_or_none() -> None:
    assert gpus_per_worker("auto", cluster_gpus=4, workers=4, model_is_local=True) == 1.0
    assert gpus_per_worker("auto", cluster_gpus=1, workers=2, model_is_local=True) == 0.0  # not a hang
    assert gpus_per_worker("auto", cluster_gpus=4, workers=2, model_is_local=False) == 0.0  # HTTP model
    assert gpus_per_worker(0.5, cluster_gpus=0, workers=2, model_is_local=True) == 0.5  # as given


def _ask(llm: LLM, question: str) -> tuple[str, str]:
    """(the worker's model class, its greedy answer)."""
    reply = llm.chat([Message.user(question)], GenerationOptions(max_tokens=12))
    return type(llm).__name__, reply.text


def test_workers_can_share_a_model_server_instead_of_each_loading_the_model(
    cluster: str, llama_server_url: str
) -> None:
    # the HTTP backend: no GGUF in the workers and no GPU asked for them (auto)
    settings = load_settings(llm_base_url=llama_server_url)
    with HTTPLLM(llama_server_url) as here:
        expected = here.chat([Message.user("Name one colour.")], GenerationOptions(max_tokens=12)).text
    with ClusterPool(cluster, settings, workers=2) as pool:
        answers = pool.map_items(_ask, ["Name one colour."] * 4, chunk_size=1)
    assert expected.strip() and answers == [("HTTPLLM", expected)] * 4
