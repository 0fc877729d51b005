"""A real SIGKILL in the middle of an epoch, then the same command again."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_rnnx import zoo
from keras_rnnx.training import trainer

EPOCHS = 4


def _command(data_dir, output):
    options = {"timesteps": 20, "train_size": 1024, "validation_size": 32, "test_size": 32}
    command = [sys.executable, "-m", "keras_rnnx.cli", "train", "--task", "adding"]
    for key, value in options.items():
        command += ["--task-option", f"{key}={value}"]
    return command + [
        "--data-dir", str(data_dir), "--units", "8", "--batch-size", "8",
        "--epochs", str(EPOCHS), "--verbose", "2", "--output", str(output),
    ]  # fmt: skip


def _history(work):
    path = work / "history.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_without_repeating_an_epoch(tmp_path, data_dir):
    output = tmp_path / "adding"
    work = trainer.work_dir_for(output)
    command = _command(data_dir, output)
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3")
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd())
    deadline = time.monotonic() + 240

    def next_epoch_started():
        # An epoch is recorded and the progress header of the next one is out
        # (it comes after the record: waiting for both avoids killing between).
        done = _history(work)
        text = (tmp_path / "first.log").read_text()
        return bool(done) and f"Epoch {len(done) + 1}/{EPOCHS}" in text

    while not next_epoch_started() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    # Kill in the epoch that has just begun.
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    log.close()
    done = _history(work)
    assert 1 <= len(done) < EPOCHS, (tmp_path / "first.log").read_text()
    killed_in = len(done)  # 0-based index of the epoch that was running
    first_log = (tmp_path / "first.log").read_text()
    assert f"Epoch {killed_in + 1}/{EPOCHS}" in first_log  # it had started
    assert not output.exists()  # no preset, not even a partial one
    backup = json.loads((work / "backup" / "training_metadata.json").read_text())
    assert backup["epoch"] == killed_in

    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=400)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"Epoch {killed_in + 1}/{EPOCHS}" in second.stdout
    assert "Epoch 1/" not in second.stdout  # killed_in >= 1: epoch 1 is not rerun

    history = _history(work)
    assert [r["epoch"] for r in history] == list(range(EPOCHS))  # each epoch once
    assert history[:killed_in] == done  # the completed epochs were kept as they were
    assert {r["pid"] for r in history[:killed_in]} == {first.pid}
    resumed_by = {r["pid"] for r in history[killed_in:]}
    assert len(resumed_by) == 1 and first.pid not in resumed_by
    model, metadata = zoo.load_preset(output)
    assert metadata["training"]["resumed_from_epoch"] == killed_in
    assert metadata["training"]["epochs_completed"] == EPOCHS
    assert metadata["training_command"].startswith("rnnx train --task adding")
    assert not (work / "backup").exists()
