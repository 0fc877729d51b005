"""Architecture search with keras-tuner: `search` and its results.

`search(task, hypermodel="rnn", tuner="random", max_trials=10, epochs=3, ...)`
runs keras-tuner over one of the hypermodels of `keras_rnnx.tuner` on a task
of `keras_rnnx.datasets`, in one process or as keras-tuner's chief or one of
its workers, and (standalone or on the chief) writes the results:

``DIRECTORY/``
    ``search.json``   what was searched (task, hypermodel, tuner, space
                      options): a second run with other settings is refused;
    ``trials.csv``    every trial: id, status, score, the active values of
                      every hyperparameter (inactive ones left empty), wall
                      time, process RSS after the trial;
    ``leaderboard.txt`` the best trials (also printed);
    ``metric_by_<group>.png``, ``metric_vs_hyperparameters.png``;
    ``best_preset/``  the best model as a zoo preset directory
                      (`keras_rnnx.zoo.save_preset`, with its metric on every
                      split);
    ``tuner/``        keras-tuner's project (oracle state, one directory per
                      trial with only its best epoch's checkpoint).

Resume: running the same search again (``overwrite=False``) reloads
keras-tuner's oracle, so completed trials are not repeated; the trial that
was running when the process died runs again.

Reproducibility: each trial seeds Keras (initial weights, dropout) with
`trial_seed` (the search's ``seed`` and the trial's id) before its model is
built, in the tuner process or in its trial process, and the oracle draws
with ``seed``: the same search run twice gives the same trials, trial by
trial, on the same machine and backend.

Trial processes (``trial_processes``) die with the search: on Linux the
kernel kills them when the tuner process ends (``prctl(PR_SET_PDEATHSIG)``),
elsewhere on POSIX a thread in the trial process exits it once its parent is
gone (polled every second), and on Windows nothing is done. A trial process
holds ``trial.lock`` (its pid, host and start time) in its trial directory;
a search about to run a trial whose lock names a live process on this host
(a stale trial of a search killed on a platform without that guarantee)
waits up to ``STALE_TRIAL_WAIT_S`` for it to end, then refuses to race it.

Memory: keras-tuner clears the Keras session before building each trial's
model; the tuner here also collects garbage after each trial and records the
process RSS, so growth over many trials shows in ``trials.csv``.

Distributed: keras-tuner's chief/worker mode, configured by
``KERASTUNER_TUNER_ID`` (``chief`` or a worker ID), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` (``rnnx search --chief / --worker ID
--oracle-address HOST:PORT`` set them). The chief serves the oracle with
trial leases (`keras_rnnx.tuner.leases`): a worker silent for longer than
``lease_seconds`` loses its trial to the retry queue. A worker first checks
that the chief answers, within ``oracle_timeout`` seconds.
"""

import csv
import dataclasses
import gc
import json
import math
import os
import pathlib
import signal
import socket
import sys
import threading
import time
import zlib

import keras
import keras_tuner
import numpy as np

from keras_rnnx import datasets
from keras_rnnx import training
from keras_rnnx import zoo
from keras_rnnx.tuner import hypermodels
from keras_rnnx.tuner import leases

TUNERS = ("random", "bayesian", "hyperband")
HYPERMODELS = ("rnn", "lstm_variants")
SEARCH_FILE = "search.json"
TRIALS_FILE = "trials.csv"
LEADERBOARD_FILE = "leaderboard.txt"
BEST_PRESET_DIR = "best_preset"
TUNER_DIR = "tuner"
RESOURCES_FILE = "resources.json"
OBJECTIVE = "val_loss"
TRIAL_LOCK_FILE = "trial.lock"
STALE_TRIAL_WAIT_S = 30.0
"""How long a search waits for a stale trial process (see the module docstring)."""


class SearchError(ValueError):
    """A search that cannot start or continue; the message says why and the fix."""


@dataclasses.dataclass
class SearchResult:
    """What `search` produced (standalone or chief; a worker gets ``role`` only)."""

    directory: pathlib.Path
    role: str
    trials: list = dataclasses.field(default_factory=list)
    best_preset: pathlib.Path = None
    files: list = dataclasses.field(default_factory=list)


# -- roles --------------------------------------------------------------------


def role_from_environ(environ=None):
    """``"standalone"``, ``"chief"`` or ``"worker"`` from keras-tuner's variables."""
    environ = os.environ if environ is None else environ
    if "KERASTUNER_ORACLE_IP" not in environ:
        return "standalone"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not environ.get(v)]
    if missing:
        raise SearchError(
            f"KERASTUNER_ORACLE_IP is set but {', '.join(missing)} is not: a "
            "distributed search needs all three (rnnx search --chief or --worker ID "
            "with --oracle-address HOST:PORT sets them)."
        )
    return "chief" if "chief" in environ["KERASTUNER_TUNER_ID"] else "worker"


def wait_for_oracle(address, timeout):
    """Block until the chief's gRPC server at ``address`` answers, at most ``timeout`` s."""
    import grpc

    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise SearchError(
            f"The chief oracle at {address} did not answer within {timeout:g} s. "
            "Start the chief first (rnnx search --chief ...), check --oracle-address, "
            "or raise --oracle-timeout."
        ) from None
    finally:
        channel.close()


# -- the tuner ----------------------------------------------------------------


class _TrialResources:
    """Mixin for a keras-tuner `Tuner`: wall time and RSS of each trial."""

    def on_trial_begin(self, trial):
        self._trial_started = time.perf_counter()
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        gc.collect()
        record = {
            "wall_s": time.perf_counter() - getattr(self, "_trial_started", time.perf_counter()),
            "rss_mib": current_rss_mib(),
        }
        path = pathlib.Path(self.get_trial_dir(trial.trial_id)) / RESOURCES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))


class _TrialProcesses:
    """Mixin for a keras-tuner `Tuner`: each trial in a fresh process (opt-in).

    TensorFlow keeps memory from every model it has traced and fitted, even
    after `keras.backend.clear_session` and garbage collection (about 20 MiB
    per trial here, see docs/search.md). With ``trial_processes`` set, a
    trial's model is built, fitted and checkpointed (best epoch only) in a
    child process started with ``spawn``, which returns the epochs' metrics
    and exits, returning its memory; the tuner process only keeps the
    oracle. Costs one interpreter and TensorFlow start per trial (a few
    seconds). Random and Bayesian search only: Hyperband continues trials
    from earlier ones in the same process.
    """

    trial_processes = None  # dict: task, data_dir, batch_size, seed; None: in-process
    search_seed = 0

    def run_trial(self, trial, *fit_args, **fit_kwargs):
        trial_dir = pathlib.Path(self.get_trial_dir(trial.trial_id))
        wait_for_stale_trial(trial_dir)
        if self.trial_processes is None:
            keras.utils.set_random_seed(trial_seed(self.search_seed, trial.trial_id))
            return super().run_trial(trial, *fit_args, **fit_kwargs)
        import multiprocessing

        payload = dict(
            self.trial_processes,
            hypermodel=self.hypermodel,
            hyperparameters=trial.hyperparameters.get_config(),
            epochs=fit_kwargs.get("epochs", 1),
            verbose=fit_kwargs.get("verbose", 0),
            checkpoint=self._get_checkpoint_fname(trial.trial_id),
            backend=keras.backend.backend(),
            trial_id=trial.trial_id,
        )
        context = multiprocessing.get_context("spawn")
        with context.Pool(1, initializer=die_with_parent, initargs=(os.getpid(),), maxtasksperchild=1) as pool:
            history = pool.apply(_fit_trial_in_child, (payload,))
        return {name: _best(values, name) for name, values in history.items()}


def _best(values, name):
    return min(values) if "loss" in name else max(values)


def trial_seed(seed, trial_id):
    """The Keras seed of one trial: ``seed`` plus the trial's number (keras-tuner's
    ids are numbers: "0", "1", ...), or plus a CRC32 of another id, mod 2**31."""
    number = int(trial_id) if str(trial_id).isdigit() else zlib.crc32(str(trial_id).encode())
    return (int(seed) + number) % 2**31


def _process_start(pid):
    """When process ``pid`` started (clock ticks since boot, Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _lock_holder_alive(lock):
    """Whether the process a trial lock names still runs (same host, same start)."""
    if lock.get("host") != socket.gethostname() or not isinstance(lock.get("pid"), int):
        return False  # another machine's process cannot be checked from here
    try:
        os.kill(lock["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    start = _process_start(lock["pid"])
    if start is not None and lock.get("start") is not None and start != lock["start"]:
        return False  # the pid was reused
    if start is not None:
        try:
            with open(f"/proc/{lock['pid']}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False  # exited, not yet reaped
        except OSError:
            return False
    return True


def write_trial_lock(trial_dir, pid=None):
    """Write ``trial_dir/trial.lock`` naming process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    path = pathlib.Path(trial_dir) / TRIAL_LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "start": _process_start(pid)}))
    os.replace(tmp, path)
    return path


def wait_for_stale_trial(trial_dir, timeout=None):
    """Return once no live process holds ``trial_dir``'s lock; wait ``timeout``
    seconds at most (default `STALE_TRIAL_WAIT_S`), then raise `SearchError`
    naming the process, so that a resumed search never runs a trial beside a
    stale process of the same trial writing the same checkpoint."""
    timeout = STALE_TRIAL_WAIT_S if timeout is None else timeout
    path = pathlib.Path(trial_dir) / TRIAL_LOCK_FILE
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # no lock, or one cut by a kill
        if not isinstance(lock, dict) or not _lock_holder_alive(lock):
            return None
        if time.monotonic() >= deadline:
            raise SearchError(
                f"{trial_dir} is still run by process {lock['pid']} (a trial process of an "
                f"earlier search that outlived it); waited {timeout:g} s. Stop it (kill "
                f"{lock['pid']}) and run the search again."
            )
        time.sleep(0.2)


def die_with_parent(parent_pid):
    """Make this process (a trial process) end when ``parent_pid`` ends.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, the kernel's guarantee (it
    fires when the thread that started this process ends: the tuner's main
    thread, which waits for the trial). Other POSIX systems, or if prctl is
    unavailable: a daemon thread polls ``os.getppid()`` every second and exits
    the process once it was re-parented. Windows: nothing (the parent's pid
    is not re-assigned there), documented. A parent that died before this
    ran is caught by the first ``os.getppid()`` check.
    """
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            armed = False
    if os.name != "posix":
        return
    if os.getppid() != parent_pid:
        os._exit(1)
    if not armed:

        def watch():
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _fit_trial_in_child(payload):
    """Build, fit and checkpoint one trial's model (in a spawned process)."""
    os.environ["KERAS_BACKEND"] = payload["backend"]
    import keras as child_keras

    lock = write_trial_lock(pathlib.Path(payload["checkpoint"]).parent)
    try:
        return _fit_trial(payload, child_keras)
    finally:
        try:
            if json.loads(lock.read_text()).get("pid") == os.getpid():
                lock.unlink()
        except (OSError, ValueError):
            pass


def _fit_trial(payload, child_keras):
    child_keras.utils.set_random_seed(trial_seed(payload["seed"], payload.get("trial_id", "0")))
    hp = keras_tuner.HyperParameters.from_config(payload["hyperparameters"])
    model = payload["hypermodel"].build(hp)
    task, data_dir, batch_size = payload["task"], payload["data_dir"], payload["batch_size"]
    train = datasets.load_split(
        task, "train", batch_size=batch_size, shuffle_seed=payload["seed"], data_dir=data_dir, augment=True
    )
    validation = datasets.load_split(task, "validation", batch_size=batch_size, data_dir=data_dir)
    checkpoint = child_keras.callbacks.ModelCheckpoint(
        payload["checkpoint"], monitor=OBJECTIVE, save_best_only=True, save_weights_only=True
    )
    history = model.fit(
        train, validation_data=validation, epochs=payload["epochs"], callbacks=[checkpoint],
        verbose=payload["verbose"],
    )  # fmt: skip
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def current_rss_mib():
    """This process's resident memory now, in MiB (Linux ``/proc``; else peak RSS)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _oracle(kind, max_trials, epochs, seed, lease_seconds):
    objective = keras_tuner.Objective(OBJECTIVE, direction="min")
    common = dict(objective=objective, seed=seed, max_retries_per_trial=1, max_consecutive_failed_trials=3)
    if kind == "random":
        cls, extra = keras_tuner.oracles.RandomSearchOracle, dict(max_trials=max_trials)
    elif kind == "bayesian":
        cls, extra = keras_tuner.oracles.BayesianOptimizationOracle, dict(max_trials=max_trials)
    else:
        cls, extra = keras_tuner.oracles.HyperbandOracle, dict(max_epochs=epochs, factor=3)
    oracle = leases.with_leases(cls, lease_seconds)(**common, **extra)
    if kind == "hyperband":
        oracle.max_trials = max_trials  # the budget caps Hyperband's brackets too
    return oracle


def _tuner(kind, hypermodel, oracle, directory, overwrite, trial_processes=None, seed=0):
    # keras-tuner's own tuner class for the kind (Hyperband's sets each
    # trial's epochs and reloads the weights of the trial it continues),
    # built on our oracle (trial leases) instead of the one its
    # constructor would make; on a worker, `leases.Heartbeat` keeps the
    # lease of the running trial.
    base = keras_tuner.Hyperband if kind == "hyperband" else keras_tuner.Tuner
    mixins = (_TrialResources, _TrialProcesses, leases.Heartbeat)
    cls = type(f"RNNX{base.__name__}", (*mixins, base), {"__module__": __name__})
    tuner = cls.__new__(cls)
    keras_tuner.Tuner.__init__(
        tuner,
        oracle=oracle,
        hypermodel=hypermodel,
        directory=str(directory),
        project_name=TUNER_DIR,
        overwrite=overwrite,
    )
    tuner.trial_processes = trial_processes
    tuner.search_seed = seed
    return tuner


# -- identity of a search -----------------------------------------------------


def _check_identity(directory, identity, overwrite, role):
    path = directory / SEARCH_FILE
    if path.exists() and not overwrite:
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise SearchError(f"{path}: unreadable ({err}); pass overwrite (--overwrite) to start over.") from err
        differ = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
        if differ:
            details = "; ".join(f"{k}: {stored.get(k)!r} there, {identity.get(k)!r} now" for k in differ)
            raise SearchError(
                f"{directory} holds a different search ({details}). Use another "
                "--directory, or --overwrite to discard it."
            )
        return True
    if role != "worker":
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")
    return False


def _check_args(hypermodel, tuner, max_trials, epochs, batch_size):
    if tuner not in TUNERS:
        raise SearchError(f"Unknown tuner {tuner!r}; choose one of {', '.join(TUNERS)}.")
    if tuner == "bayesian":
        # keras-tuner's BayesianOptimization needs them (its "bayesian" extra);
        # checked before the directory is written.
        try:
            import scipy.optimize  # noqa: F401
            import sklearn.gaussian_process  # noqa: F401
        except ImportError as err:
            raise SearchError(
                f"The bayesian tuner needs scikit-learn and scipy ({err}): pip install "
                "'keras-tuner[bayesian]', or choose another tuner (random, hyperband)."
            ) from None
    if hypermodel not in HYPERMODELS:
        raise SearchError(f"Unknown hypermodel {hypermodel!r}; choose one of {', '.join(HYPERMODELS)}.")
    for name, value in (("max_trials", max_trials), ("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SearchError(f"`{name}` must be an integer >= 1 (a budget of zero searches nothing); received {value!r}.")


def _make_hypermodel(kind, task, cell_types, units, variants):
    if kind == "rnn":
        if variants is not None:
            raise SearchError("`variants` belongs to the 'lstm_variants' hypermodel; 'rnn' searches `cell_types`.")
        return hypermodels.RNNHyperModel(task, cell_types=cell_types)
    if cell_types is not None:
        raise SearchError("`cell_types` belongs to the 'rnn' hypermodel; 'lstm_variants' searches gate structures.")
    return hypermodels.LSTMVariantHyperModel(task, units=units, variants=variants)


# -- the search ---------------------------------------------------------------


def search(
    task,
    *,
    directory,
    task_options=None,
    hypermodel="rnn",
    tuner="random",
    max_trials=10,
    epochs=3,
    batch_size=32,
    cell_types=None,
    units=64,
    variants=None,
    seed=0,
    overwrite=False,
    data_dir=None,
    lease_seconds=leases.DEFAULT_LEASE_SECONDS,
    oracle_timeout=60.0,
    export_preset=True,
    trial_processes=None,
    top=10,
    verbose=1,
    environ=None,
):
    """Run (or resume, or join) an architecture search; see the module docstring.

    Args:
        task: a task name of `keras_rnnx.datasets` (with ``task_options``) or a `Task`.
        directory: the results directory.
        hypermodel: ``"rnn"`` (`RNNHyperModel`: cell type and sizes) or
            ``"lstm_variants"`` (`LSTMVariantHyperModel`: gate structures).
        tuner: ``"random"``, ``"bayesian"`` or ``"hyperband"``.
        max_trials: the trial budget (>= 1; Hyperband stops there too).
        epochs: epochs per trial (Hyperband: the most epochs of a trial).
        batch_size: batch size of the task's pipelines.
        cell_types: cell names for ``"rnn"`` (default: every cell that fits).
        units: the width of ``"lstm_variants"``: an int, or a list to search.
        variants: the variants ``"lstm_variants"`` searches (default: all).
        seed: seed of the oracle and of the data shuffling.
        overwrite: discard an existing search in ``directory``.
        data_dir: the data sets' directory.
        lease_seconds: chief only: how long a silent worker keeps its trial.
        oracle_timeout: worker only: seconds to wait for the chief to answer.
        export_preset: write the best model as a preset directory.
        trial_processes: run each trial in a fresh process, so that memory
            does not grow over the trials (default None: yes for the random
            and bayesian tuners, no for Hyperband, which cannot).
        top: rows of the leaderboard.
        verbose: keras-tuner / ``fit`` verbosity.
        environ: the environment to read keras-tuner's variables from.

    Returns:
        `SearchResult`.

    Raises:
        SearchError: a bad argument, a directory holding another search, an
            unreachable chief.
    """
    _check_args(hypermodel, tuner, max_trials, epochs, batch_size)
    environ = os.environ if environ is None else environ
    role = role_from_environ(environ)
    task = training.resolve_task(task, data_dir, **(task_options or {}))
    model_space = _make_hypermodel(hypermodel, task, cell_types, units, variants)
    directory = pathlib.Path(directory)
    identity = {
        "task": training.task_metadata(task),
        "hypermodel": hypermodel,
        "tuner": tuner,
        "cell_types": list(cell_types) if cell_types is not None else None,
        "units": units if hypermodel == "lstm_variants" else None,
        "variants": list(variants) if variants is not None else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "max_trials": max_trials,
    }
    identity = json.loads(json.dumps(identity))
    if role == "worker":
        address = f"{environ['KERASTUNER_ORACLE_IP']}:{environ['KERASTUNER_ORACLE_PORT']}"
        wait_for_oracle(address, oracle_timeout)
    resuming = _check_identity(directory, identity, overwrite, role)
    keras.utils.set_random_seed(seed)
    oracle = _oracle(tuner, max_trials, epochs, seed, lease_seconds)
    isolated = None
    if trial_processes is None:
        trial_processes = tuner != "hyperband"
    if trial_processes:
        if tuner == "hyperband":
            raise SearchError(
                "`trial_processes` (--trial-processes) works with the random and bayesian "
                "tuners; Hyperband continues trials from earlier ones in the same process."
            )
        isolated = dict(task=task, data_dir=data_dir, batch_size=batch_size, seed=seed)
    search_tuner = _tuner(tuner, model_space, oracle, directory, overwrite and role != "worker", isolated, seed)
    if resuming and verbose:
        done = sum(1 for t in oracle.trials.values() if t.status == "COMPLETED") if role != "worker" else 0
        print(f"Resuming the search in {directory}: {done} trial(s) already completed.")
    train_data = datasets.load_split(
        task, "train", batch_size=batch_size, shuffle_seed=seed, data_dir=data_dir, augment=True
    )
    validation = datasets.load_split(task, "validation", batch_size=batch_size, data_dir=data_dir)
    stop = leases.start_reclaimer(search_tuner.oracle) if role == "chief" else None
    try:
        search_tuner.search(train_data, validation_data=validation, epochs=epochs, verbose=verbose)
    finally:
        if stop is not None:
            stop.set()
    if role == "worker":
        return SearchResult(directory, role)
    return _write_results(search_tuner, task, directory, role, export_preset, top, data_dir, batch_size, verbose)


# -- results ------------------------------------------------------------------


def trial_rows(tuner):
    """One dict per trial: id, status, score, active hyperparameters, resources."""
    rows = []
    for trial_id in sorted(tuner.oracle.trials):
        trial = tuner.oracle.trials[trial_id]
        hp = trial.hyperparameters
        values = {name: value for name, value in hp.values.items() if hp.is_active(name) and not name.startswith("tuner/")}
        resources_path = pathlib.Path(tuner.get_trial_dir(trial_id)) / RESOURCES_FILE
        resources = json.loads(resources_path.read_text()) if resources_path.exists() else {}
        score = trial.score if trial.score is not None and math.isfinite(trial.score) else None
        rows.append({
            "trial_id": trial_id, "status": trial.status, "score": score,
            "values": values, **resources,
        })  # fmt: skip
    return rows


def _write_csv(rows, path):
    names = sorted({n for row in rows for n in row["values"]})
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial_id", "status", OBJECTIVE, *names, "wall_s", "rss_mib"])
        for row in rows:
            writer.writerow(
                [row["trial_id"], row["status"], "" if row["score"] is None else f"{row['score']:.6g}"]
                + ["" if n not in row["values"] else row["values"][n] for n in names]
                + [f"{row['wall_s']:.1f}" if "wall_s" in row else "", f"{row['rss_mib']:.1f}" if "rss_mib" in row else ""]
            )


def leaderboard(rows, top=10):
    """The ``top`` completed trials, best first, as text lines."""
    done = sorted((r for r in rows if r["score"] is not None), key=lambda r: r["score"])
    lines = [f"{'rank':>4} {'trial':>6} {OBJECTIVE:>10}  hyperparameters"]
    for rank, row in enumerate(done[:top], 1):
        values = ", ".join(f"{k}={_short(v)}" for k, v in sorted(row["values"].items()))
        lines.append(f"{rank:>4} {row['trial_id']:>6} {row['score']:>10.5f}  {values}")
    failed = [r["trial_id"] for r in rows if r["score"] is None]
    if failed:
        lines.append(f"not completed: {', '.join(failed)}")
    return lines


def _short(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def plot_results(rows, directory, group):
    """``metric_by_<group>.png`` and ``metric_vs_hyperparameters.png``; the paths written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["score"] is not None]
    if not done:
        return []
    paths = []
    groups = sorted({str(r["values"].get(group)) for r in done})
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(groups)), 3.5))
    data = [[r["score"] for r in done if str(r["values"].get(group)) == g] for g in groups]
    ax.boxplot(data, showfliers=False)
    for i, values in enumerate(data, 1):
        ax.scatter(np.full(len(values), i), values, s=12, alpha=0.7)
    ax.set_xticks(range(1, len(groups) + 1), groups, rotation=30, ha="right")
    ax.set_ylabel(OBJECTIVE)
    ax.set_title(f"{OBJECTIVE} per {group} ({len(done)} trials)")
    fig.tight_layout()
    path = directory / f"metric_by_{group}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)

    names = sorted({n for r in done for n in r["values"] if n != group})
    if names:
        cols = min(3, len(names))
        rows_n = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 3 * rows_n), squeeze=False)
        for ax, name in zip(axes.flat, names):
            points = [(r["values"][name], r["score"]) for r in done if name in r["values"]]
            xs = [p[0] for p in points]
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
                ax.scatter(xs, [p[1] for p in points], s=14)
                if name == "learning_rate":
                    ax.set_xscale("log")
            else:
                labels = sorted({str(x) for x in xs})
                ax.scatter([labels.index(str(x)) for x in xs], [p[1] for p in points], s=14)
                ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
            ax.set_title(name, fontsize=9)
            ax.set_ylabel(OBJECTIVE, fontsize=8)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.tight_layout()
        path = directory / "metric_vs_hyperparameters.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def _export_best(tuner, task, directory, data_dir, batch_size, rows):
    best = tuner.oracle.get_best_trials(1)
    if not best:
        return None
    trial = best[0]
    model = tuner.load_model(trial)
    training.compile_model(model, task)
    sizes = datasets.split_sizes(task, data_dir=data_dir)
    scores = {
        split: training.evaluate(model, task, split, batch_size=batch_size, data_dir=data_dir)
        for split in ("train", "validation", "test")
        if sizes.get(split)
    }
    row = next(r for r in rows if r["trial_id"] == trial.trial_id)
    metadata = {
        "task": training.task_metadata(task),
        "dataset": task.name,
        "split_sizes": sizes,
        "metrics": scores,
        "params": int(model.count_params()),
        "search": {"trial_id": trial.trial_id, OBJECTIVE: trial.score, "hyperparameters": row["values"],
                   "directory": str(directory)},
    }  # fmt: skip
    extra = {}
    if task.vocabulary is not None:
        extra["vocabulary.json"] = lambda path: datasets.save_vocabulary(task.vocabulary, path)
    return zoo.save_preset(directory / BEST_PRESET_DIR, model, metadata, extra_files=extra, overwrite=True)


def _write_results(tuner, task, directory, role, export_preset, top, data_dir, batch_size, verbose):
    rows = trial_rows(tuner)
    files = [directory / TRIALS_FILE, directory / LEADERBOARD_FILE]
    _write_csv(rows, files[0])
    lines = leaderboard(rows, top)
    files[1].write_text("\n".join(lines) + "\n")
    group = "cell_type" if any("cell_type" in r["values"] for r in rows) else "variant"
    files += plot_results(rows, directory, group)
    best = _export_best(tuner, task, directory, data_dir, batch_size, rows) if export_preset else None
    if verbose:
        print("\n".join(lines))
        print(f"Results in {directory}: {', '.join(p.name for p in files)}"
              + (f"; best model: {best}" if best else ""))  # fmt: skip
    return SearchResult(directory, role, rows, pathlib.Path(best) if best else None, files)
