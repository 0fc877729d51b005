"""Sampling: reproducible text that starts with its prompt; JSB rolls as MIDI and PNG."""

import mido
import numpy as np
import pytest

from keras_rnnx import training


@pytest.fixture
def char_model(text_task):
    return training.build_model(text_task, "gru", units=6)


def test_stateful_stepping_equals_the_whole_sequence(char_model, text_task):
    ids = np.random.RandomState(0).randint(0, text_task.output_units, (1, 9)).astype("int32")
    full = np.asarray(char_model(ids))[0]
    stepper = training.stateful_stepper(char_model)
    chunks = [stepper.predict_on_batch(ids[:, :4])[0], stepper.predict_on_batch(ids[:, 4:5])[0],
              stepper.predict_on_batch(ids[:, 5:])[0]]  # fmt: skip
    np.testing.assert_allclose(np.concatenate(chunks), full, rtol=1e-5, atol=1e-6)


def test_text_sampling_is_reproducible_and_starts_with_the_prompt(char_model, text_task):
    vocabulary = text_task.vocabulary
    one = training.sample_text(char_model, vocabulary, length=30, prompt="to be", seed=7)
    two = training.sample_text(char_model, vocabulary, length=30, prompt="to be", seed=7)
    other = training.sample_text(char_model, vocabulary, length=30, prompt="to be", seed=8)
    assert one == two != other
    assert one.startswith("to be") and len(one) == 35
    assert set(one) <= set(vocabulary)


def test_temperature_zero_is_greedy_and_conditioned_on_the_prompt(char_model, text_task):
    prompt = "whether tis"
    greedy = [
        training.sample_text(char_model, text_task.vocabulary, length=10, prompt=prompt, temperature=0, seed=s)
        for s in (1, 2)
    ]
    assert greedy[0] == greedy[1]
    # Each character is the argmax of the model run on the prompt and what follows.
    x = np.array([[text_task.vocabulary.index(c) for c in greedy[0][:-1]]], "int32")
    expected = [text_task.vocabulary[i] for i in np.argmax(np.asarray(char_model(x))[0], -1)]
    assert greedy[0][len(prompt):] == "".join(expected)[len(prompt) - 1 :]


def test_bad_sampling_arguments(char_model, text_task):
    with pytest.raises(ValueError, match=r"outside the model's vocabulary: 'Qz'"):
        training.sample_text(char_model, text_task.vocabulary, prompt="Quiz")
    with pytest.raises(ValueError, match="`temperature`"):
        training.sample_text(char_model, text_task.vocabulary, temperature=-1)
    with pytest.raises(ValueError, match="`length`"):
        training.sample_text(char_model, text_task.vocabulary, length=0)
    with pytest.raises(ValueError, match="non-empty"):
        training.sample_text(char_model, text_task.vocabulary, prompt="")


def _roll_from_midi(path):
    """Piano roll of a MIDI file written by write_midi: one row per beat."""
    midi = mido.MidiFile(str(path))
    events, now = [], 0
    for message in mido.merge_tracks(midi.tracks):
        now += message.time
        if message.type in ("note_on", "note_off"):
            events.append((now // midi.ticks_per_beat, message.note, message.type == "note_on" and message.velocity > 0))
    roll = np.zeros((max(step for step, _, _ in events), 88), np.float32)
    started = {}
    for step, note, on in events:
        assert 21 <= note <= 108
        if on:
            started[note] = step
        else:
            roll[started.pop(note) : step, note - 21] = 1.0
    assert not started
    return roll


def test_jsb_sample_round_trips_through_midi(jsb_task, tmp_path):
    model = training.build_model(jsb_task, "lstm", units=4)
    prompt = [[60, 64, 67], [], [62, 65, 69]]
    roll = training.sample_piano_roll(model, steps=12, prompt=prompt, seed=3)
    assert roll.shape == (15, 88)
    np.testing.assert_array_equal(roll[:3], training.chords_to_roll(prompt))
    np.testing.assert_array_equal(training.sample_piano_roll(model, steps=12, prompt=prompt, seed=3), roll)
    training.write_midi(roll, tmp_path / "sample.mid")
    back = _roll_from_midi(tmp_path / "sample.mid")
    last = int(np.flatnonzero(roll.any(axis=1)).max()) + 1
    np.testing.assert_array_equal(back, roll[:last])
    training.plot_piano_roll(roll, tmp_path / "roll.png")
    assert (tmp_path / "roll.png").read_bytes()[:4] == b"\x89PNG"


def test_jsb_sampling_starts_like_training_from_silence(jsb_task):
    model = training.build_model(jsb_task, "lstm", units=4)
    first = np.asarray(model(np.zeros((1, 1, 88), "float32")))[0, 0]
    greedy = training.sample_piano_roll(model, steps=1, temperature=0)
    np.testing.assert_array_equal(greedy[0], (first > 0.5).astype("float32"))
    with pytest.raises(ValueError, match="MIDI note 12 at step 0 is outside"):
        training.sample_piano_roll(model, prompt=[[12]])


def test_sample_dispatches_on_the_task_kind(char_model, text_task, adding_task):
    assert training.sample(char_model, text_task, length=3, prompt="to", seed=0).startswith("to")
    with pytest.raises(ValueError, match="kind 'regression'"):
        training.sample(char_model, adding_task)
