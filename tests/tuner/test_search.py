"""keras_rnnx.tuner.search: results, tuners, resume, refusals, bad input, and
keras-tuner's chief/worker mode with trial leases, in real processes.

Everything searches the tiny adding task (``TINY``), prepared once per module
in a temporary data directory. The multi-process tests start
``python -m keras_rnnx.cli search`` in their own process groups and SIGKILL
every group they started when they end; they are marked ``slow`` (they take
20-60 s each): ``make test-slow`` runs them, and CI runs it after ``make test``.
"""

import copy
import csv
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import keras_tuner
import pytest

from keras_rnnx import cli
from keras_rnnx import datasets
from keras_rnnx import zoo
from keras_rnnx.tuner import leases
from keras_rnnx.tuner import search as search_lib

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = {"timesteps": 8, "train_size": 32, "validation_size": 16, "test_size": 16}
BATCH = 16
TUNER_ENV = ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID")
CLUSTER_TIMEOUT_S = 240
"""The most a chief and its workers may take, start to exit."""



# -- helpers ------------------------------------------------------------------


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout, what, describe=lambda: "", interval=0.2):
    """Poll ``predicate`` until it returns something true (returned), at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{describe()}")
        time.sleep(interval)


def search_args(directory, data_dir, *extra, max_trials=2, epochs=1, cell_types="gru", seed=0, verbose=0):
    """``rnnx search`` arguments for the tiny adding task."""
    args = ["search", "--task", "adding", "--data-dir", str(data_dir)]
    for key, value in TINY.items():
        args += ["--task-option", f"{key}={value}"]
    return args + [
        "--max-trials", str(max_trials), "--epochs", str(epochs), "--batch-size", str(BATCH),
        "--cell-types", cell_types, "--seed", str(seed), "--directory", str(directory),
        "--verbose", str(verbose), *extra,
    ]  # fmt: skip


def run_search(directory, data_dir, **kwargs):
    """`search_lib.search` on the tiny adding task (standalone, quiet)."""
    options = dict(
        task_options=TINY, data_dir=data_dir, batch_size=BATCH, epochs=1,
        cell_types=["gru"], verbose=0, environ={}, trial_processes=False,
    )  # fmt: skip
    options.update(kwargs)
    return search_lib.search("adding", directory=directory, **options)


def read_trials(directory):
    """``{trial_id: (text, data)}`` of every readable ``trial.json`` under ``directory/tuner``.

    A file being rewritten at that moment (not valid JSON) is left out.
    """
    trials = {}
    for path in sorted((pathlib.Path(directory) / search_lib.TUNER_DIR).glob("trial_*/trial.json")):
        try:
            text = path.read_text()
            data = json.loads(text)
        except (OSError, ValueError):
            continue
        trials[data["trial_id"]] = (text, data)
    return trials


def completed_trials(directory):
    """``{trial_id: trial.json text}`` of the COMPLETED trials."""
    return {tid: text for tid, (text, data) in read_trials(directory).items() if data["status"] == "COMPLETED"}


def oracle_state(directory):
    """keras-tuner's ``oracle.json`` (None while missing or being written)."""
    try:
        return json.loads((pathlib.Path(directory) / search_lib.TUNER_DIR / "oracle.json").read_text())
    except (OSError, ValueError):
        return None


def error_line(stderr):
    """The ``rnnx search: error: ...`` line of a failed command (TF may log before it)."""
    lines = [line for line in stderr.splitlines() if line.startswith("rnnx search: error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def trial_dirs(directory):
    return sorted((pathlib.Path(directory) / search_lib.TUNER_DIR).glob("trial_*"))


class Launcher:
    """Starts ``python -m keras_rnnx.cli`` in new process groups, logs to files."""

    def __init__(self, log_dir):
        self.log_dir = pathlib.Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes = []
        self.env = {k: v for k, v in os.environ.items() if k not in TUNER_ENV}
        self.env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")

    def start(self, name, args):
        with open(self.log_dir / f"{name}.out", "w") as out, open(self.log_dir / f"{name}.err", "w") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "keras_rnnx.cli", *args], stdout=out, stderr=err,
                env=self.env, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        process.name = name
        self.processes.append(process)
        return process

    def stdout(self, process):
        return (self.log_dir / f"{process.name}.out").read_text()

    def stderr(self, process):
        return (self.log_dir / f"{process.name}.err").read_text()

    def describe(self):
        return "\n".join(
            f"--- {p.name} (rc {p.poll()}) stdout:\n{self.stdout(p)[-2000:]}\nstderr:\n{self.stderr(p)[-3000:]}"
            for p in self.processes
        )

    def wait(self, processes, timeout, on_poll=lambda: None):
        """Wait until every process has exited (calling ``on_poll`` meanwhile); their exit codes."""

        def all_exited():
            on_poll()
            return all(p.poll() is not None for p in processes)

        names = ", ".join(p.name for p in processes)
        wait_until(all_exited, timeout, f"{names} to exit", self.describe)
        return [p.returncode for p in processes]

    def run(self, name, args, timeout=180):
        """Start and wait for one process; ``(returncode, stdout, stderr)``."""
        process = self.start(name, args)
        (code,) = self.wait([process], timeout)
        return code, self.stdout(process), self.stderr(process)

    @staticmethod
    def kill(process):
        """SIGKILL the process group of ``process`` and reap it."""
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)

    def kill_all(self):
        for process in self.processes:
            self.kill(process)


class Cluster:
    """A chief and its workers on one results directory and a free port."""

    def __init__(self, launcher, directory, data_dir, **search_options):
        self.launcher = launcher
        self.directory = pathlib.Path(directory)
        self.address = f"127.0.0.1:{free_port()}"
        self.args = search_args(directory, data_dir, "--oracle-address", self.address, **search_options)
        self.seen = []  # (tuner_id, trial_id) pairs seen in the oracle's ongoing_trials
        self.processes = {}

    def start_chief(self, *extra):
        self.processes["chief"] = self.launcher.start("chief", [*self.args, "--chief", *extra])

    def start_worker(self, worker_id, name=None):
        name = name or worker_id
        process = self.launcher.start(name, [*self.args, "--worker", worker_id, "--oracle-timeout", "120"])
        self.processes[name] = process
        return process

    def watch(self):
        """Record the trials the oracle lists as ongoing now; the oracle state."""
        state = oracle_state(self.directory)
        for pair in (state or {}).get("ongoing_trials", {}).items():
            if pair not in self.seen:
                self.seen.append(pair)
        return state

    def ongoing_trial_of(self, tuner_id):
        return (self.watch() or {}).get("ongoing_trials", {}).get(tuner_id)

    def wait(self, names, timeout=CLUSTER_TIMEOUT_S):
        return self.launcher.wait([self.processes[n] for n in names], timeout, self.watch)


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The tiny adding task's data, generated once (before any process reads it)."""
    path = tmp_path_factory.mktemp("search_data")
    task = datasets.get_task("adding", data_dir=path, **TINY)
    for split in ("train", "validation", "test"):
        datasets.load_split(task, split, batch_size=BATCH, data_dir=path)
    return path


@pytest.fixture(autouse=True)
def _no_tuner_environment(monkeypatch):
    """keras-tuner reads its chief/worker variables from os.environ: none here."""
    for name in TUNER_ENV:
        monkeypatch.setenv(name, "")  # records the original value, restored afterwards
        monkeypatch.delenv(name)


@pytest.fixture
def launcher(tmp_path):
    launcher = Launcher(tmp_path / "logs")
    try:
        yield launcher
    finally:
        launcher.kill_all()


@pytest.fixture(scope="module")
def standalone(tmp_path_factory, data_dir):
    """A finished 3-trial search over lstm and gru (seed 2 draws both), 2 epochs a trial."""
    directory = tmp_path_factory.mktemp("standalone") / "search"
    result = run_search(directory, data_dir, cell_types=["lstm", "gru"], max_trials=3, epochs=2, seed=2)
    return directory, result


# -- 1. a standalone search and its results -----------------------------------


def test_a_search_writes_every_result_file(standalone):
    directory, result = standalone
    expected = [
        "search.json", "trials.csv", "leaderboard.txt", "metric_by_cell_type.png",
        "metric_vs_hyperparameters.png", "best_preset", "tuner",
    ]  # fmt: skip
    missing = [name for name in expected if not (directory / name).exists()]
    assert not missing, f"missing {missing} in {sorted(p.name for p in directory.iterdir())}"
    assert result.role == "standalone" and result.directory == directory
    assert {p.name for p in result.files} == set(expected[1:5])
    assert all(p.stat().st_size > 0 for p in result.files)
    assert json.loads((directory / "search.json").read_text())["max_trials"] == 3


def test_trials_csv_has_one_completed_row_per_trial_and_inactive_values_empty(standalone):
    directory, _ = standalone
    rows = read_csv(directory / "trials.csv")
    assert [r["trial_id"] for r in rows] == sorted(read_trials(directory)) and len(rows) == 3
    assert {r["status"] for r in rows} == {"COMPLETED"}
    by_cell = {cell: [r for r in rows if r["cell_type"] == cell] for cell in ("lstm", "gru")}
    assert by_cell["lstm"] and by_cell["gru"], "seed 2 should draw both cell types in 3 trials"
    for row in rows:
        for name in ("val_loss", "units", "learning_rate", "optimizer", "wall_s", "rss_mib"):
            assert row[name] != "", (name, row)
        assert float(row["rss_mib"]) > 0 and float(row["wall_s"]) > 0
    for row in by_cell["gru"]:
        assert row["peephole"] == row["coupled"] == row["forget_bias"] == "", row
        assert row["reset_after"] in ("True", "False"), row
    for row in by_cell["lstm"]:
        assert row["reset_after"] == "", row
        assert row["peephole"] in ("True", "False") and row["forget_bias"] != "", row


def test_the_leaderboard_is_sorted_by_val_loss(standalone):
    directory, result = standalone
    lines = (directory / "leaderboard.txt").read_text().splitlines()
    assert lines[0].split()[:3] == ["rank", "trial", "val_loss"]
    ranked = [(int(line.split()[0]), line.split()[1], float(line.split()[2])) for line in lines[1:]]
    assert [rank for rank, _, _ in ranked] == [1, 2, 3]
    scores = [score for _, _, score in ranked]
    assert scores == sorted(scores)
    by_score = sorted(read_csv(directory / "trials.csv"), key=lambda r: float(r["val_loss"]))
    assert [trial for _, trial, _ in ranked] == [r["trial_id"] for r in by_score]
    assert [r["trial_id"] for r in result.trials] == sorted(r["trial_id"] for r in by_score)


def test_the_best_preset_loads_with_its_metrics_and_trial(standalone):
    directory, result = standalone
    assert result.best_preset == directory / "best_preset"
    model, metadata = zoo.load_preset(directory / "best_preset")
    assert model.count_params() == metadata["params"]
    assert set(metadata["metrics"]) == {"train", "validation", "test"}
    assert all(metadata["metrics"][split]["mse"] >= 0 for split in metadata["metrics"])
    best = min(read_csv(directory / "trials.csv"), key=lambda r: float(r["val_loss"]))
    assert metadata["search"]["trial_id"] == best["trial_id"]
    assert metadata["search"]["hyperparameters"]["cell_type"] == best["cell_type"]
    # The exported weights are the best epoch's: they score the trial's val_loss.
    assert metadata["metrics"]["validation"]["mse"] == pytest.approx(metadata["search"]["val_loss"], rel=1e-4)


def test_each_trial_keeps_only_its_best_epochs_checkpoint(standalone):
    directory, _ = standalone
    dirs = trial_dirs(directory)
    assert len(dirs) == 3
    for trial_dir in dirs:
        files = [p for p in trial_dir.rglob("*") if p.is_file()]
        weights = [p.name for p in files if "checkpoint" in p.name or p.suffix in (".h5", ".keras")]
        assert weights == ["checkpoint.weights.h5"], (trial_dir, weights)


# -- 2. the three tuners ------------------------------------------------------


def _hyperband_plan(max_epochs, factor=3):
    """How many trials keras-tuner's Hyperband schedules for ``max_epochs`` (no cap)."""
    oracle = keras_tuner.oracles.HyperbandOracle(objective="val_loss", max_epochs=max_epochs, factor=factor)
    brackets = oracle._get_num_brackets()
    return sum(oracle._get_size(b, r) for b in range(brackets) for r in range(oracle._get_num_rounds(b)))


@pytest.mark.parametrize(
    "tuner", ["random", pytest.param("bayesian", marks=pytest.mark.slow), pytest.param("hyperband", marks=pytest.mark.slow)]
)
def test_each_tuner_completes_a_two_trial_budget(tuner, tmp_path, data_dir):
    # Hyperband: epochs 3 plans 6 trials (3 + 1 in bracket 1, 2 in bracket 0); the budget stops it at 2.
    epochs = 3 if tuner == "hyperband" else 1
    if tuner == "hyperband":
        assert _hyperband_plan(epochs) > 2
    result = run_search(tmp_path / tuner, data_dir, tuner=tuner, max_trials=2, epochs=epochs)
    assert [(r["trial_id"], r["status"]) for r in result.trials] == [("0", "COMPLETED"), ("1", "COMPLETED")]
    assert len(trial_dirs(tmp_path / tuner)) == 2
    assert len(read_csv(tmp_path / tuner / "trials.csv")) == 2
    assert result.best_preset is not None and result.best_preset.exists()
    if tuner == "hyperband":
        assert all(r["values"].keys() >= {"cell_type", "units"} for r in result.trials)
        assert {read_trials(tmp_path / tuner)[t][1]["hyperparameters"]["values"]["tuner/epochs"] for t in "01"} == {1}


def test_the_bayesian_tuner_without_scikit_learn_is_refused_before_anything_is_written(
    tmp_path, data_dir, monkeypatch
):
    monkeypatch.setitem(sys.modules, "sklearn.gaussian_process", None)  # as if not installed
    with pytest.raises(search_lib.SearchError, match="bayesian tuner needs scikit-learn and scipy") as error:
        run_search(tmp_path / "s", data_dir, tuner="bayesian")
    assert "keras-tuner[bayesian]" in str(error.value) and "random, hyperband" in str(error.value)
    assert not (tmp_path / "s").exists()


# -- 3. resume after a real SIGKILL -------------------------------------------


@pytest.mark.slow
def test_a_search_killed_by_sigkill_resumes_without_rerunning_completed_trials(tmp_path, data_dir, launcher):
    directory = tmp_path / "search"
    args = search_args(directory, data_dir, max_trials=4, verbose=1)
    first = launcher.start("first", args)
    wait_until(
        lambda: len(completed_trials(directory)) >= 2 or first.poll() is not None,
        180, "2 completed trials", launcher.describe, interval=0.1,
    )  # fmt: skip
    assert first.poll() is None, "the search ended before it could be killed:\n" + launcher.describe()
    launcher.kill(first)
    assert first.returncode == -signal.SIGKILL
    before = completed_trials(directory)
    assert 2 <= len(before) < 4, sorted(before)
    assert not (directory / "trials.csv").exists()

    code, out, err = launcher.run("second", args)
    assert code == 0, err[-3000:]
    assert f"Resuming the search in {directory}: {len(before)} trial(s) already completed." in out
    after = completed_trials(directory)
    assert len(after) == 4 and len(read_trials(directory)) == 4
    for trial_id, text in before.items():
        assert after[trial_id] == text, f"trial {trial_id} changed: it ran again"
    state = oracle_state(directory)
    assert all(state["run_times"][t] == 1 for t in before)
    rows = read_csv(directory / "trials.csv")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"COMPLETED"}


# -- 4. a directory holding another search ------------------------------------


@pytest.mark.slow
def test_a_directory_holding_another_search_is_refused_unless_overwritten(tmp_path, data_dir, standalone, launcher):
    directory = tmp_path / "copy"
    shutil.copytree(standalone[0], directory)
    stored = (directory / "search.json").read_text()
    # The same search as `standalone` but for --epochs.
    same_but_epochs = search_args(directory, data_dir, max_trials=3, epochs=1, cell_types="lstm,gru", seed=2)
    code, out, err = launcher.run("refused", same_but_epochs)
    assert code == 1, err[-3000:]
    message = error_line(err)
    assert f"{directory} holds a different search (epochs: 2 there, 1 now)" in message
    assert "--overwrite" in message and "--directory" in message
    assert (directory / "search.json").read_text() == stored  # untouched

    with pytest.raises(search_lib.SearchError, match=r"cell_types: \['lstm', 'gru'\] there, \['gru'\] now"):
        run_search(directory, data_dir, max_trials=3, epochs=2, seed=2, cell_types=["gru"])

    code, out, err = launcher.run("overwritten", [*search_args(directory, data_dir, max_trials=1), "--overwrite"])
    assert code == 0, err[-3000:]
    assert json.loads((directory / "search.json").read_text())["epochs"] == 1
    assert len(read_csv(directory / "trials.csv")) == 1 and len(trial_dirs(directory)) == 1


# -- 5. bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, option, words",
    [
        (["--tuner", "nope"], "--tuner", "invalid choice: 'nope'"),
        (["--cell-types", "lstm,nope"], "--cell-types", "unknown cell type(s) 'nope'"),
        (["--cell-types", ""], "--cell-types", "an empty list of cell types"),
        (["--max-trials", "0"], "--max-trials", "A budget of zero searches nothing"),
        (["--worker", "w1"], "--oracle-address", "required with --chief or --worker"),
        (["--oracle-address", "127.0.0.1:8000"], "--oracle-address", "give --chief or --worker"),
        (["--chief", "--oracle-address", "127.0.0.1"], "--oracle-address", "expected HOST:PORT"),
        (["--chief", "--oracle-address", "127.0.0.1:http"], "--oracle-address", "expected HOST:PORT"),
        (["--worker", "w1", "--oracle-address", "127.0.0.1:70000"], "--oracle-address", "expected HOST:PORT"),
        (["--chief", "--worker", "w1", "--oracle-address", "127.0.0.1:8000"], "--worker", "not allowed with"),
        (["--worker", "chief2", "--oracle-address", "127.0.0.1:8000"], "--worker", "not contain 'chief'"),
    ],
)
def test_a_bad_command_line_exits_2_naming_the_option(extra, option, words, tmp_path, data_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*search_args(tmp_path / "s", data_dir), *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and words in err, err
    assert not (tmp_path / "s").exists()
    assert not any(os.environ.get(name) for name in TUNER_ENV)


@pytest.mark.slow
def test_the_rnnx_process_exits_2_on_a_bad_command_line(tmp_path, data_dir, launcher):
    code, _, err = launcher.run("bad", [*search_args(tmp_path / "s", data_dir), "--tuner", "nope"], timeout=120)
    assert code == 2 and "argument --tuner: invalid choice: 'nope'" in err, err[-3000:]


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"tuner": "nope"}, "tuner"),
        ({"max_trials": 0}, "max_trials"),
        ({"epochs": 0}, "epochs"),
        ({"hypermodel": "nope"}, "hypermodel"),
    ],
)
def test_the_python_api_rejects_a_bad_argument_by_name(kwargs, argument, tmp_path, data_dir):
    with pytest.raises(search_lib.SearchError, match=argument) as error:
        run_search(tmp_path / "s", data_dir, **kwargs)
    assert isinstance(error.value, ValueError)
    assert repr(next(iter(kwargs.values()))) in str(error.value)
    assert not (tmp_path / "s").exists()


# -- 6. an unreachable chief --------------------------------------------------


@pytest.mark.slow
def test_a_worker_without_a_chief_fails_after_the_oracle_timeout(tmp_path, data_dir, launcher):
    address = f"127.0.0.1:{free_port()}"
    args = search_args(tmp_path / "s", data_dir, "--worker", "w1", "--oracle-address", address, "--oracle-timeout", "3")
    started = time.monotonic()
    code, _, err = launcher.run("worker", args, timeout=120)
    elapsed = time.monotonic() - started
    print(f"\nunreachable oracle: the worker exited {code} after {elapsed:.1f} s (timeout 3 s)")
    assert code == 1, err[-3000:]
    message = error_line(err)
    assert address in message, err[-3000:]
    assert "did not answer within 3 s" in message and "--chief" in message and "--oracle-address" in message
    assert 3 <= elapsed < 60


# -- 7, 8. chief and workers --------------------------------------------------


@pytest.mark.slow
def test_a_chief_and_two_workers_complete_the_search(tmp_path, data_dir, launcher):
    directory = tmp_path / "search"
    cluster = Cluster(launcher, directory, data_dir, max_trials=4, epochs=10)
    started = time.monotonic()
    cluster.start_chief()
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    codes = cluster.wait(["chief", "w1", "w2"])
    elapsed = time.monotonic() - started
    print(f"\nchief + 2 workers, 4 trials: all exited after {elapsed:.1f} s; ongoing seen: {cluster.seen}")
    assert codes == [0, 0, 0], launcher.describe()
    for worker in ("w1", "w2"):
        assert f"Worker {worker} done." in launcher.stdout(cluster.processes[worker])
    trials = read_trials(directory)
    assert sorted(trials) == ["0", "1", "2", "3"]
    assert {data["status"] for _, data in trials.values()} == {"COMPLETED"}
    # Both workers ran trials, each trial once.
    assert {tuner_id for tuner_id, _ in cluster.seen} == {"w1", "w2"}, cluster.seen
    assert all(n == 1 for n in oracle_state(directory)["run_times"].values())
    # The chief wrote the results.
    rows = read_csv(directory / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1", "2", "3"] and {r["status"] for r in rows} == {"COMPLETED"}
    assert all(r["rss_mib"] for r in rows)  # the workers' resources.json, in the shared directory
    _, metadata = zoo.load_preset(directory / "best_preset")
    assert metadata["search"]["trial_id"] == min(rows, key=lambda r: float(r["val_loss"]))["trial_id"]


def _kill_in_first_trial(cluster, worker, launcher):
    """Wait until ``worker`` runs its first trial, let it train 1.5 s, SIGKILL it; the trial id."""
    trial_id = wait_until(
        lambda: cluster.ongoing_trial_of(worker), 180, f"{worker} to start a trial", launcher.describe
    )
    time.sleep(1.5)
    assert cluster.ongoing_trial_of(worker) == trial_id, "the trial ended before the kill"
    launcher.kill(cluster.processes[worker])
    assert read_trials(cluster.directory)[trial_id][1]["status"] == "RUNNING"
    return trial_id


@pytest.mark.slow
def test_a_worker_killed_mid_trial_blocks_nobody_and_its_trial_is_retried(tmp_path, data_dir, launcher):
    # Trials of ~6 s, longer than the 4 s lease: live workers must keep theirs (heartbeats).
    directory = tmp_path / "search"
    lease = 4
    cluster = Cluster(launcher, directory, data_dir, max_trials=4, epochs=40)
    started = time.monotonic()
    cluster.start_chief("--lease-seconds", str(lease))
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    killed = _kill_in_first_trial(cluster, "w1", launcher)
    killed_at = time.monotonic()
    before = completed_trials(directory)
    # w2 has at least two new trials left: it asks again after w1's lease ran out.
    assert len(read_trials(directory)) <= 2, sorted(read_trials(directory))

    codes = cluster.wait(["chief", "w2"])
    elapsed = time.monotonic() - started
    print(
        f"\nworker killed mid-trial {killed}: chief and w2 exited after {elapsed:.1f} s "
        f"({time.monotonic() - killed_at:.1f} s after the kill); ongoing seen: {cluster.seen}"
    )
    assert codes == [0, 0], launcher.describe()
    after = read_trials(directory)
    assert sorted(after) == ["0", "1", "2", "3"]
    assert {data["status"] for _, data in after.values()} == {"COMPLETED"}, launcher.describe()
    for trial_id, text in before.items():
        assert after[trial_id][0] == text, f"trial {trial_id}, completed before the kill, changed"
    assert ("w2", killed) in cluster.seen  # retried, by w2
    state = oracle_state(directory)
    # Each trial ended once: no live worker lost its trial to the lease.
    assert all(n == 1 for n in state["run_times"].values()), state["run_times"]
    assert sorted(state["end_order"]) == ["0", "1", "2", "3"]
    assert len(read_csv(directory / "trials.csv")) == 4


@pytest.mark.slow
def test_a_worker_restarted_with_its_id_gets_its_own_trial_back(tmp_path, data_dir, launcher):
    directory = tmp_path / "search"
    lease = 150
    cluster = Cluster(launcher, directory, data_dir, max_trials=2, epochs=30)
    started = time.monotonic()
    cluster.start_chief("--lease-seconds", str(lease))
    cluster.start_worker("w1")
    killed = _kill_in_first_trial(cluster, "w1", launcher)
    killed_at = time.monotonic()
    cluster.start_worker("w1", name="w1-again")
    # Had w1 got a new trial, `killed` would stay ongoing until the lease ran out.
    codes = cluster.wait(["chief", "w1-again"], timeout=lease - 15)
    elapsed = time.monotonic() - started
    print(f"\nworker restarted with its ID: chief exited after {elapsed:.1f} s "
          f"({time.monotonic() - killed_at:.1f} s after the kill, lease {lease} s)")  # fmt: skip
    assert codes == [0, 0], launcher.describe()
    trials = read_trials(directory)
    assert sorted(trials) == ["0", "1"] and trials[killed][1]["status"] == "COMPLETED"
    assert {data["status"] for _, data in trials.values()} == {"COMPLETED"}
    state = oracle_state(directory)
    assert state["run_times"] == {"0": 1, "1": 1} and not state["retry_queue"]


# -- trial leases, in process -------------------------------------------------


@pytest.fixture
def leased_oracle(tmp_path):
    """A leased random-search oracle (lease 0.5 s) over one float, in ``tmp_path``."""
    oracle = leases.with_leases(keras_tuner.oracles.RandomSearchOracle, 0.5)(
        objective=keras_tuner.Objective("val_loss", "min"), max_trials=5, seed=1
    )
    oracle._set_project_dir(str(tmp_path), "tuner")
    hp = keras_tuner.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle.update_space(hp)
    return oracle


def _expire(oracle, tuner_id):
    oracle._lease_table()[tuner_id] = time.monotonic() - 2 * oracle.lease_seconds


def _complete(oracle, trial):
    oracle.update_trial(trial.trial_id, {"val_loss": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_a_lease_expires_unless_the_worker_beats(leased_oracle):
    trial = leased_oracle.create_trial("w1")
    for _ in range(6):  # 0.6 s > the lease, with a heartbeat every 0.1 s
        time.sleep(0.1)
        leased_oracle.get_trial(trial.trial_id)
    assert leased_oracle.reclaim_expired() == []
    time.sleep(0.6)
    assert leased_oracle.reclaim_expired() == [("w1", trial.trial_id)]
    assert leased_oracle._retry_queue == [trial.trial_id] and "w1" not in leased_oracle.tuner_ids
    assert leased_oracle.create_trial("w2").trial_id == trial.trial_id  # the retry comes first


def test_the_heartbeat_thread_renews_a_trial_while_it_runs():
    calls = []

    class Oracle:
        def get_trial(self, trial_id):
            calls.append(trial_id)

    stop = leases.start_heartbeat(Oracle(), "3", interval=0.05)
    time.sleep(0.4)
    stop.set()
    time.sleep(0.1)
    count = len(calls)
    assert count >= 4 and set(calls) == {"3"}
    time.sleep(0.2)
    assert len(calls) == count  # stopped
    assert not any(t.name == "rnnx-trial-heartbeat" for t in threading.enumerate())


def test_a_late_report_of_a_reclaimed_trial_is_kept_and_not_run_again(leased_oracle):
    trial = leased_oracle.create_trial("w1")
    _expire(leased_oracle, "w1")
    assert leased_oracle.reclaim_expired() == [("w1", trial.trial_id)]
    _complete(leased_oracle, trial)  # w1 was slow, not dead
    assert leased_oracle.trials[trial.trial_id].status == "COMPLETED"
    assert leased_oracle._retry_queue == []
    assert leased_oracle.create_trial("w2").trial_id != trial.trial_id


def test_a_dead_worker_between_trials_does_not_keep_the_chief(leased_oracle):
    from keras_tuner.src.distribute import oracle_chief

    _complete(leased_oracle, leased_oracle.create_trial("w1"))
    assert leased_oracle.tuner_ids == {"w1"} and not oracle_chief.exit_chief(leased_oracle)
    _expire(leased_oracle, "w1")  # killed before asking for its next trial
    assert leased_oracle.reclaim_expired() == []  # no trial to take back
    assert oracle_chief.exit_chief(leased_oracle)


# -- 9. memory over 20 trials -------------------------------------------------




@pytest.mark.slow
def test_trial_processes_keep_the_tuner_memory_flat(tmp_path, data_dir):
    # In-process trials grow TensorFlow's memory by ~20 MiB each (measured over
    # 20 trials in docs/search.md); a fresh process per trial does not.
    directory = tmp_path / "search"
    result = run_search(directory, data_dir, max_trials=4, trial_processes=True)
    rows = read_csv(directory / "trials.csv")
    assert [r["status"] for r in rows] == ["COMPLETED"] * 4
    rss = [float(r["rss_mib"]) for r in rows]
    print(f"\nRSS of the tuner process after each isolated trial (MiB): {', '.join(f'{x:.0f}' for x in rss)}")
    assert max(rss[1:]) - rss[1] < 20
    best = zoo.load_preset(result.best_preset)[1]
    assert best["search"]["val_loss"] == pytest.approx(min(float(r["val_loss"]) for r in rows), rel=1e-4)


def test_trial_processes_refuse_hyperband(tmp_path, data_dir):
    with pytest.raises(search_lib.SearchError, match="`trial_processes`.*random and bayesian"):
        run_search(tmp_path / "s", data_dir, tuner="hyperband", trial_processes=True)


# -- 10. seeds, trial processes that die with the search, stale trials ----------


def _trial_payload(task, data_dir, checkpoint, seed=0, trial_id="1"):
    from keras_rnnx.tuner import hypermodels

    hp = keras_tuner.HyperParameters()
    model_space = hypermodels.RNNHyperModel(task, cell_types=["gru"])
    model_space.build(hp)  # declares the space
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=1, seed=0)
    oracle._set_project_dir(str(pathlib.Path(checkpoint).parent), "oracle")
    oracle.update_space(hp)
    trial = oracle.create_trial("t0")  # one draw of the space, as the tuner sends it
    return dict(
        task=task, data_dir=data_dir, batch_size=BATCH, seed=seed, hypermodel=model_space,
        hyperparameters=trial.hyperparameters.get_config(), epochs=1, verbose=0, checkpoint=str(checkpoint),
        backend="tensorflow", trial_id=trial_id,
    )  # fmt: skip


def test_a_trial_process_is_seeded_by_the_search_seed_and_the_trial(tmp_path, data_dir):
    # Regression: the same rnnx search run twice gave trial 0 different val_loss for the
    # same hyperparameters: the trial process built its model from an unseeded state.
    import keras
    import numpy as np

    task = datasets.get_task("adding", data_dir=data_dir, **TINY)
    (tmp_path / "a").mkdir()
    payload = _trial_payload(task, data_dir, tmp_path / "a" / "checkpoint.weights.h5")
    keras.utils.set_random_seed(11)
    # Deep copies: from_config changes the config it reads (the child gets a pickled copy).
    first = search_lib._fit_trial_in_child(copy.deepcopy(payload))
    keras.utils.set_random_seed(12)  # another global state: the trial must not depend on it
    np.random.rand(5)
    again = search_lib._fit_trial_in_child(copy.deepcopy(payload))
    assert first == again
    other = search_lib._fit_trial_in_child(dict(copy.deepcopy(payload), trial_id="2"))
    assert other != first  # trials draw different initial weights
    assert search_lib.trial_seed(0, "1") != search_lib.trial_seed(0, "2") != search_lib.trial_seed(1, "2")
    assert search_lib.trial_seed(3, "tuner0-xyz") == search_lib.trial_seed(3, "tuner0-xyz")


def test_two_in_process_searches_give_identical_trials(tmp_path, data_dir):
    first = run_search(tmp_path / "a", data_dir, max_trials=2, seed=5, export_preset=False)
    second = run_search(tmp_path / "b", data_dir, max_trials=2, seed=5, export_preset=False)
    pick = lambda rows: [(r["trial_id"], r["values"], r["score"]) for r in rows]  # noqa: E731
    assert pick(first.trials) == pick(second.trials)


@pytest.mark.slow
def test_two_searches_with_trial_processes_give_identical_trials(tmp_path, data_dir):
    first = run_search(tmp_path / "a", data_dir, max_trials=2, seed=5, trial_processes=True, export_preset=False)
    second = run_search(tmp_path / "b", data_dir, max_trials=2, seed=5, trial_processes=True, export_preset=False)
    pick = lambda rows: [(r["trial_id"], r["values"], r["score"]) for r in rows]  # noqa: E731
    print(f"\ntrial val_loss, two runs: {[r['score'] for r in first.trials]} {[r['score'] for r in second.trials]}")
    assert pick(first.trials) == pick(second.trials)


def _children(pid):
    """PIDs of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid):
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_trial_process_dies_with_its_killed_search(tmp_path, data_dir, launcher):
    # Regression: kill -9 of rnnx search left its trial process running; it finished
    # 20 s later and wrote trial_1/checkpoint.weights.h5 while the resumed search started.
    directory = tmp_path / "search"
    args = search_args(directory, data_dir, "--trial-processes", max_trials=1, epochs=20000)
    search = launcher.start("search", args)

    def running_trial():  # the spawned trial process, once it fits (its first checkpoint is written)
        if not list((directory / search_lib.TUNER_DIR).glob("trial_*/checkpoint.weights.h5")):
            return None
        for pid in _children(search.pid):
            try:
                cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                return pid
        return None

    trial = wait_until(lambda: running_trial() or search.poll() is not None, 180,
                       "a running trial process", launcher.describe)  # fmt: skip
    try:
        assert search.poll() is None, launcher.describe()
        os.kill(search.pid, signal.SIGKILL)  # the search process only, not its group
        search.wait(timeout=30)
        wait_until(lambda: not _alive(trial), 10, f"trial process {trial} to die with its search", launcher.describe)
    finally:
        if trial and _alive(trial):  # an orphan outlives the group kill of `launcher`
            os.kill(trial, signal.SIGKILL)


def test_a_resumed_search_waits_for_a_stale_trial_process_then_refuses(tmp_path, monkeypatch):
    trial_dir = tmp_path / "trial_1"
    trial_dir.mkdir()
    assert search_lib.wait_for_stale_trial(trial_dir, timeout=0.1) is None  # no lock: nothing to wait for
    stale = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        search_lib.write_trial_lock(trial_dir, pid=stale.pid)
        started = time.monotonic()
        with pytest.raises(search_lib.SearchError, match=f"{trial_dir}.*still run by process {stale.pid}.*kill {stale.pid}"):
            search_lib.wait_for_stale_trial(trial_dir, timeout=1.0)
        assert time.monotonic() - started >= 1.0
        threading.Timer(0.5, stale.kill).start()
        search_lib.wait_for_stale_trial(trial_dir, timeout=20)  # returns once the stale process is gone
        assert stale.poll() is not None
    finally:
        stale.kill()
        stale.wait()
    # A lock left by a dead process (or by a process whose PID was reused) is stale.
    search_lib.write_trial_lock(trial_dir, pid=stale.pid)
    assert search_lib.wait_for_stale_trial(trial_dir, timeout=0.1) is None
    lock = json.loads((trial_dir / search_lib.TRIAL_LOCK_FILE).read_text())
    lock.update(pid=os.getpid(), start="not this process's start")
    (trial_dir / search_lib.TRIAL_LOCK_FILE).write_text(json.dumps(lock))
    assert search_lib.wait_for_stale_trial(trial_dir, timeout=0.1) is None


@pytest.mark.parametrize(
    "where, flag",
    [("directory", "--directory"), ("directory_under", "--directory"), ("data_dir", "--data-dir"),
     ("data_dir_under", "--data-dir")],
)  # fmt: skip
def test_a_file_where_search_needs_a_directory_exits_2_naming_the_flag(where, flag, tmp_path, data_dir, capsys):
    # Regression: NotADirectoryError tracebacks, as for rnnx train.
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    path = a_file / "sub" if where.endswith("_under") else a_file
    directory = path if where.startswith("directory") else tmp_path / "s"
    argv = search_args(directory, data_dir if flag != "--data-dir" else path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("rnnx search: error:")]
    assert len(lines) == 1 and f"argument {flag}:" in lines[0] and "is a file, not a directory" in lines[0], err
    assert "Traceback" not in err and not (tmp_path / "s").exists()
    assert not any(os.environ.get(name) for name in TUNER_ENV)
