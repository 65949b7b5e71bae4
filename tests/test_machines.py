"""Two launches of `pretrain --num-machines 2 --machine-rank 0/1` on this machine (gloo) train exactly as
`--num-processes 2` does; a killed machine ends the other with a message instead of a hang."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import pretrain_args

STEPS = 12
TIMEOUT = 300  # seconds for any launch: a hang fails the test instead of the CI job


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "electra_cli", *args, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def machine(args: list[str], rank: int, port: int) -> subprocess.Popen:
    return launch(args, "--num-processes", "2", "--num-machines", "2", "--machine-rank", str(rank),
                  "--main-process-ip", "127.0.0.1", "--main-process-port", str(port))


def kill_tree(pid: int) -> None:
    """SIGKILL a launch and every process under it, as when its machine is lost (torchrun starts the ranks in
    sessions of their own, so killing the launch's process group would leave them running)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    todo, tree = [pid], []
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(process: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        output, _ = process.communicate()
        pytest.fail(f"launch still running after {timeout}s:\n{output[-3000:]}")
    return process.returncode, output


def losses(run) -> list[tuple]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["gen_loss"], r["disc_loss"]) for r in records if "loss" in r]


def test_two_machines_of_one_process_train_as_one_machine_of_two(tiny_shards, tmp_path):
    one = tmp_path / "one"
    code, output = finish(launch(pretrain_args(tiny_shards, one, STEPS, "--set", "train.log_every=1",
                                               "--set", f"train.save_every={STEPS}"), "--num-processes", "2"))
    assert code == 0, output[-3000:]
    two = tmp_path / "two"
    args = pretrain_args(tiny_shards, two, STEPS, "--set", "train.log_every=1", "--set", f"train.save_every={STEPS}")
    port = free_port()
    head, other = machine(args, 0, port), machine(args, 1, port)
    (code0, out0), (code1, out1) = finish(head), finish(other)
    assert code0 == 0 and code1 == 0, (out0[-3000:], out1[-3000:])
    assert len(losses(one)) == STEPS
    assert losses(two) == losses(one)  # the same data, masks and reductions: the same numbers
    checkpoint = two / "checkpoints" / f"step-{STEPS:08d}"
    complete = json.loads((checkpoint / "COMPLETE").read_text())
    assert {"rng-rank000.pt", "rng-rank001.pt"} <= complete.keys()

    # resumed by one process: it says what the change of world size means, and goes on
    code, output = finish(launch(pretrain_args(tiny_shards, two, STEPS + 2, "--resume", "auto")))
    assert code == 0, output[-3000:]
    assert "saved by 2 processes and is resumed by 1" in output and "same order" in output, output[-3000:]
    # a checkpoint missing one rank's state is not resumable
    (checkpoint / "rng-rank001.pt").unlink()
    code, output = finish(launch(pretrain_args(tiny_shards, two, STEPS + 4, "--resume", str(checkpoint))))
    assert code == 3 and "rng-rank001.pt missing" in output, output[-3000:]


def test_a_killed_machine_ends_the_other_with_a_message(tiny_shards, tmp_path):
    args = pretrain_args(tiny_shards, tmp_path / "run", 100000, "--set", "train.log_every=1")
    port = free_port()
    head, other = machine(args, 0, port), machine(args, 1, port)
    run = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + TIMEOUT
    while not (run.is_file() and len(run.read_text().splitlines()) >= 3):
        assert time.time() < deadline and head.poll() is None, "training did not start"
        time.sleep(0.5)
    kill_tree(other.pid)  # machine 1 and its ranks die at once, as when a node is lost
    finish(other)
    started = time.time()
    code, output = finish(head, timeout=120)
    assert code != 0
    assert "lost contact" in output and "--resume auto" in output, output[-3000:]
    assert time.time() - started < 120


def test_slurm_pretrain_script_runs_two_nodes(tiny_shards, tmp_path):
    """examples/slurm/pretrain.sbatch as SLURM runs it on a 2-node allocation: a stub scontrol names the nodes
    (both this machine), a stub srun starts one task per node with its SLURM_NODEID; the two launches find each
    other at the port derived from the job id and train to the end."""
    script = Path(__file__).resolve().parents[1] / "examples" / "slurm" / "pretrain.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "scontrol").write_text('#!/bin/bash\n[[ "$*" == "show hostnames node[1-2]" ]] || exit 9\n'
                                    'printf "127.0.0.1\\n127.0.0.1\\n"\n')
    (stubs / "srun").write_text(
        '#!/bin/bash\nwhile [[ $1 == --* ]]; do shift; done\npids=()\n'
        'for node in 0 1; do SLURM_NODEID=$node SLURM_PROCID=$node "$@" & pids+=($!); done\n'
        'status=0\nfor p in "${pids[@]}"; do wait "$p" || status=$?; done\nexit $status\n'
    )
    (stubs / "electra-cli").write_text(f'#!/bin/bash\nexec "{sys.executable}" -m electra_cli "$@"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    port = free_port()
    while not 20000 <= port < 40000:
        port = free_port()
    run = tmp_path / "run"
    extra = pretrain_args(tiny_shards, run, 4, "--set", "train.save_every=4")[7:]  # --max-steps, the tiny model
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "SHARDS": str(tiny_shards), "RUN": str(run),
           "RECIPE": "electra-tiny", "PROCS_PER_NODE": "1", "PRETRAIN_ARGS": " ".join(extra),
           "SLURM_JOB_ID": str(port - 20000), "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "node[1-2]",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert f"head node 127.0.0.1:{port}, 2 nodes x 1 processes" in done.stdout
    assert (run / "final" / "discriminator" / "config.json").is_file()
    complete = json.loads((run / "checkpoints" / "step-00000004" / "COMPLETE").read_text())
    assert {"rng-rank000.pt", "rng-rank001.pt"} <= complete.keys()
