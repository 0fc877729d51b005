"""Training under a `tf.distribute` strategy: one machine's replicas, or workers.

``rnnx train --strategy`` (`make_strategy`):

- ``none`` (default): no strategy, ``model.fit`` in one process.
- ``mirrored``: `tf.distribute.MirroredStrategy` over this machine's devices
  (one replica on a CPU-only machine). Keras 3's ``model.fit`` works under it,
  so `keras_rnnx.training.train` keeps its ``fit`` path; ``--batch-size`` is
  then the global batch, split among the replicas.
- ``multiworker``: `tf.distribute.MultiWorkerMirroredStrategy`, configured from
  the ``TF_CONFIG`` environment variable. Keras 3's ``model.fit`` does not
  support it (keras-team/keras#20585: "Attempt to convert a value
  (PerReplica...)"), so `fit_custom` trains with a ``tf.function`` step run by
  ``strategy.run`` over ``strategy.experimental_distribute_dataset``.

`fit_custom` (the multi-worker loop):

- global batch = ``--batch-size`` x replicas in sync (one replica per CPU
  worker); the task's ``tf.data`` pipeline is loaded with the global batch
  and sharded with `tf.data.experimental.AutoShardPolicy.DATA`: every worker
  reads the whole (identically shuffled: same seed) split and keeps its part
  of each global batch;
- the loss is Keras' compiled loss of the replica's batch (``compute_loss``),
  which Keras scales by ``1 / num_replicas_in_sync`` under a strategy, i.e. the
  sum over the replica's examples divided by the global batch size (what
  `tf.nn.compute_average_loss` computes); the optimizer's ``apply`` sums the
  replicas' gradients (all-reduce) before the update, so every worker applies
  the same update. ``clipnorm`` clips each replica's gradient before the sum;
- per epoch: a checkpoint (`tf.train.Checkpoint` of model, optimizer and
  epoch) written by every worker, the chief into ``OUTPUT.work/backup``, the
  others into a temporary directory deleted at the end (TensorFlow's
  multi-worker checkpoint pattern), then ``backup/training_metadata.json``
  with the number of completed epochs; the epoch's callbacks (best weights,
  ``history.jsonl``, early stopping: the same as ``fit``'s); TensorBoard
  scalars (``epoch_loss`` in ``logs/train`` and ``logs/validation``) and one
  progress line, on the chief only;
- resume: rerun the same commands; every worker restores the chief's
  checkpoint of the last completed epoch (so on several machines the
  chief's working directory must be readable by every worker, e.g. a shared
  file system).
"""

import atexit
import json
import os
import pathlib
import shutil
import tempfile
import time

import keras
import numpy as np

STRATEGIES = ("none", "mirrored", "multiworker")
"""The values of ``rnnx train --strategy``."""

TF_CONFIG = "TF_CONFIG"
BACKUP_METADATA = "training_metadata.json"
CHECKPOINT_PREFIX = "ckpt-"
_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)


def read_tf_config(environ=None):
    """The cluster of ``TF_CONFIG``, checked: ``(cluster, task_type, task_index)``.

    Raises:
        ValueError: ``TF_CONFIG`` is missing or malformed (the message names
            it and shows an example).
    """
    environ = os.environ if environ is None else environ
    text = environ.get(TF_CONFIG, "").strip()
    if not text:
        raise ValueError(
            f"--strategy multiworker needs the {TF_CONFIG} environment variable "
            f"(the cluster and this worker's place in it), e.g. {_EXAMPLE}."
        )

    def bad(why):
        return ValueError(f"{TF_CONFIG} is malformed: {why}. Expected e.g. {_EXAMPLE}.")

    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise bad(f"not JSON ({err.msg})") from None
    if not isinstance(config, dict):
        raise bad("not a JSON object")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise bad("no 'cluster' object")
    for job, addresses in cluster.items():
        if (
            not isinstance(addresses, list)
            or not addresses
            or not all(isinstance(a, str) and ":" in a for a in addresses)
        ):
            raise bad(f"cluster job {job!r} is not a list of 'host:port' addresses")
    if "worker" not in cluster and "chief" not in cluster:
        raise bad("the cluster has neither 'worker' nor 'chief' addresses")
    if not isinstance(task, dict):
        raise bad("no 'task' object")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster:
        raise bad(f"task type {task_type!r} is not a job of the cluster ({', '.join(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[task_type]):
        raise bad(
            f"task index {index!r} is not in 0..{len(cluster[task_type]) - 1} "
            f"(the {task_type!r} addresses)"
        )
    return cluster, task_type, index


def make_strategy(name, environ=None):
    """The `tf.distribute.Strategy` of ``rnnx train --strategy NAME`` (None for none).

    Create it first thing in the process: `MultiWorkerMirroredStrategy` must be
    made before TensorFlow runs any operation.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}. Choose among: {', '.join(STRATEGIES)}.")
    if name == "none":
        return None
    if name == "multiworker":
        read_tf_config(environ)  # a clear error before TensorFlow's own
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"--strategy {name} needs the TensorFlow backend (KERAS_BACKEND=tensorflow); "
            f"the backend is {keras.backend.backend()!r}."
        )
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def needs_custom_loop(strategy):
    """Whether ``model.fit`` cannot run under ``strategy`` (multi-worker)."""
    if strategy is None:
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def task_id(strategy):
    """This worker's ``(task_type, task_id)``, ``(None, 0)`` without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return getattr(resolver, "task_type", None), int(getattr(resolver, "task_id", 0) or 0)


# -- working directories ------------------------------------------------------


def backup_epoch(backup_dir):
    """Completed epochs recorded in ``backup_dir`` by `fit_custom` (0 if none)."""
    path = pathlib.Path(backup_dir) / BACKUP_METADATA
    if not path.exists():
        return 0
    return int(json.loads(path.read_text())["epoch"])


def worker_work_dir(strategy):
    """A fresh temporary working directory for a non-chief worker."""
    task_type, index = task_id(strategy)
    path = pathlib.Path(tempfile.mkdtemp(prefix=f"rnnx-{task_type or 'worker'}{index}-"))
    atexit.register(shutil.rmtree, path, True)  # also when training fails
    return path


def prepare_worker_dir(work, chief_work, run, resume, *, run_file, history_file, read_history):
    """Set up a non-chief worker's temporary ``work`` from the chief's state.

    Returns ``(epochs done, history)`` as the chief's `_prepare_work_dir` finds
    them (read only: the chief owns ``chief_work``), and copies that history
    into ``work`` so that early stopping decides as on the chief.
    """
    work.mkdir(parents=True, exist_ok=True)
    (work / run_file).write_text(json.dumps(run, indent=2, sort_keys=True))
    epochs_done, history = 0, []
    if resume:
        epochs_done = backup_epoch(chief_work / "backup")
        if epochs_done:
            history = [r for r in read_history(chief_work / history_file) if r["epoch"] < epochs_done]
    (work / history_file).write_text("".join(json.dumps(r) + "\n" for r in history))
    return epochs_done, history


# -- the custom loop ------------------------------------------------------------


def distribute(strategy, dataset):
    """``dataset`` sharded by data (`AutoShardPolicy.DATA`) and distributed."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def _write_json(path, value):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def fit_custom(
    model,
    strategy,
    train_data,
    validation_data=None,
    *,
    epochs,
    initial_epoch=0,
    callbacks=(),
    backup_dir,
    restore_dir=None,
    logs_dir=None,
    chief=True,
    verbose=1,
):
    """Train ``model`` (built and compiled in ``strategy.scope()``) for ``epochs``.

    Args:
        model: a compiled `keras.Model` whose variables belong to ``strategy``.
        strategy: a `tf.distribute.Strategy` (multi-worker in practice).
        train_data, validation_data: batched ``tf.data.Dataset`` s of global
            batches (``(x, y)`` or ``(x, y, sample_weight)``), not yet
            distributed; the validation data may be None.
        epochs: total epochs; ``initial_epoch`` of them are already done and
            restored from ``restore_dir/ckpt-{initial_epoch}``.
        callbacks: Keras callbacks, called at the start and end of training and
            of each epoch with the epoch's logs (``loss``, ``val_loss``);
            ``model.stop_training`` stops after the epoch.
        backup_dir: where this worker writes its checkpoints (the chief: the
            real one; the others: a temporary directory).
        restore_dir: the chief's backup directory (default ``backup_dir``).
        logs_dir: TensorBoard directory (written by the chief only).
        chief: whether this worker prints and writes TensorBoard logs.
        verbose: 0 prints nothing; otherwise one line per epoch on the chief.
    """
    import tensorflow as tf

    backup_dir = pathlib.Path(backup_dir)
    restore_dir = pathlib.Path(restore_dir) if restore_dir is not None else backup_dir
    optimizer = model.optimizer
    with strategy.scope():
        optimizer.build(model.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
    if initial_epoch:
        path = restore_dir / f"{CHECKPOINT_PREFIX}{initial_epoch}"
        checkpoint.read(str(path)).assert_existing_objects_matched()
        if int(epoch_var.numpy()) != initial_epoch:
            raise ValueError(f"{path}: holds epoch {int(epoch_var.numpy())}, expected {initial_epoch}.")

    def unpack(batch):
        return keras.utils.unpack_x_y_sample_weight(batch)

    def train_replica(batch):
        x, y, sample_weight = unpack(batch)
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            # Keras' loss: the replica's mean divided by num_replicas_in_sync.
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)  # all-reduces the gradients
        return loss, tf.shape(tf.nest.flatten(x)[0])[0]

    def test_replica(batch):
        x, y, sample_weight = unpack(batch)
        y_pred = model(x, training=False)
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        return loss, tf.shape(tf.nest.flatten(x)[0])[0]

    def step_function(replica_fn):
        @tf.function(reduce_retracing=True)
        def step(batch):
            loss, size = strategy.run(replica_fn, args=(batch,))
            # Sum of the scaled losses = the global batch's mean loss.
            sum_ = tf.distribute.ReduceOp.SUM
            return strategy.reduce(sum_, loss, axis=None), strategy.reduce(sum_, size, axis=None)

        return step

    train_step, test_step = step_function(train_replica), step_function(test_replica)
    dist_train = distribute(strategy, train_data)
    dist_validation = distribute(strategy, validation_data) if validation_data is not None else None

    def run_epoch(step, data, batch_callbacks=()):
        # The training pass tells the callbacks each batch's running mean loss,
        # as Keras' fit does (trainer.StopOnNonFiniteLoss stops on a NaN there).
        total, count = 0.0, 0
        for index, batch in enumerate(data):
            for callback in batch_callbacks:
                callback.on_train_batch_begin(index)
            loss, size = step(batch)
            size = int(size)
            total += float(loss) * size
            count += size
            for callback in batch_callbacks:
                callback.on_train_batch_end(index, {"loss": total / max(count, 1)})
        return total / max(count, 1)

    writers = {}
    if chief and logs_dir is not None:
        writers = {
            name: tf.summary.create_file_writer(str(pathlib.Path(logs_dir) / name))
            for name in ("train", "validation")
        }
    backup_dir.mkdir(parents=True, exist_ok=True)
    callbacks = list(callbacks)
    for callback in callbacks:
        callback.set_model(model)
    model.stop_training = False
    for callback in callbacks:
        callback.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        start = time.perf_counter()
        logs = {"loss": run_epoch(train_step, dist_train, callbacks)}
        if dist_validation is not None:
            logs["val_loss"] = run_epoch(test_step, dist_validation)
        seconds = time.perf_counter() - start
        # Every worker saves (the non-chief ones into a temporary directory).
        epoch_var.assign(epoch + 1)
        checkpoint.write(str(backup_dir / f"{CHECKPOINT_PREFIX}{epoch + 1}"))
        _write_json(backup_dir / BACKUP_METADATA, {"epoch": epoch + 1})
        for old in backup_dir.glob(f"{CHECKPOINT_PREFIX}{epoch - 1}.*"):
            old.unlink()  # keep the last two epochs' checkpoints
        for name, key in (("train", "loss"), ("validation", "val_loss")):
            if name in writers and key in logs:
                with writers[name].as_default():
                    tf.summary.scalar("epoch_loss", logs[key], step=epoch)
                writers[name].flush()
        if chief and verbose != 0:
            text = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {seconds:.1f}s - {text}", flush=True)
        for callback in callbacks:
            callback.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    for callback in callbacks:
        callback.on_train_end()
    for writer in writers.values():
        writer.close()


def plain_copy(model, build):
    """A copy of ``model`` built by ``build()`` outside any strategy, same weights.

    Evaluation (``predict_on_batch``) and the preset are done on it: Keras 3's
    own predict loop does not run under a multi-worker strategy.
    """
    copy = build()
    copy.set_weights(model.get_weights())
    return copy


def dump_weights(model, path):
    """Write ``model``'s weights to ``path`` as a NumPy ``.npz`` (tests)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, *[np.asarray(w) for w in model.get_weights()])


def remove_worker_dir(work):
    """Delete a non-chief worker's temporary working directory."""
    shutil.rmtree(work, ignore_errors=True)
