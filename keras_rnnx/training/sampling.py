"""Sampling from sequence models: characters, and JSB piano rolls as MIDI or PNG.

A trained model with one output per step predicts step t + 1 from steps
0..t. Sampling runs a stateful copy of it (same config with
``stateful=True`` and a batch of one, same weights) one step at a time: the
prompt is read first, then each sampled step is fed back. The cost is one
step of the model per sampled step, and the probabilities equal those of
the original model run on the whole sequence.

Temperature ``tau`` rescales the predicted distribution: characters are drawn
from ``softmax(log p / tau)`` and each note of a piano roll is on with
probability ``sigmoid(logit(p) / tau)``; ``tau = 0`` takes the most
probable choice (argmax, or p > 0.5) and ``tau = 1`` the model's own
distribution. Draws use ``numpy.random.default_rng(seed)``, so a seed gives
the same sample on every run.
"""

import copy

import numpy as np

LOWEST_PITCH = 21
"""MIDI note number of piano-roll column 0 (A0): the 88 columns are 21..108."""
EPSILON = 1e-7


def stateful_stepper(model, batch_size=1):
    """A copy of ``model`` that keeps its recurrent states between calls.

    Same config with every recurrent layer ``stateful=True``, an input batch
    of ``batch_size`` (one state per row) and a time axis of any length;
    same weights.
    """
    if isinstance(batch_size, bool) or not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"`batch_size` must be an int >= 1; received {batch_size!r}.")
    config = copy.deepcopy(model.get_config())
    for layer in config["layers"]:
        layer.pop("build_config", None)  # rebuilt by the call on the new input
        layer_config = layer["config"]
        if layer["class_name"] == "InputLayer":
            shape = list(layer_config["batch_shape"])
            layer_config["batch_shape"] = [batch_size, None] + shape[2:]
        elif "stateful" in layer_config:
            layer_config["stateful"] = True
    stepper = type(model).from_config(config)
    stepper.set_weights(model.get_weights())
    for layer in stepper.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()
    return stepper


def _check_temperature(temperature):
    if isinstance(temperature, bool) or not (
        isinstance(temperature, (int, float)) and temperature >= 0
    ):
        raise ValueError(f"`temperature` must be a float >= 0; received {temperature!r}.")


def _check_length(length):
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"`length` must be an int >= 1; received {length!r}.")


def sample_text(model, vocabulary, *, length=200, prompt=None, temperature=1.0, seed=None):
    """Generate ``length`` characters after ``prompt`` with a character model.

    Args:
        model: a character model (integer ids in, next-character
            probabilities out at every step), e.g. `build_model` on a
            ``char_lm`` task.
        vocabulary: sequence of the characters, id i is ``vocabulary[i]``.
        length: int >= 1, characters to generate.
        prompt: str of characters of the vocabulary, read before generating
            (default: the vocabulary's newline if it has one, else its first
            character).
        temperature: float >= 0 (see the module docstring).
        seed: int or None, seed of the draws.

    Returns:
        ``prompt`` followed by the generated characters.

    Raises:
        ValueError: an empty vocabulary, a prompt with characters outside
            it (named), or a bad length or temperature.
    """
    vocabulary = list(vocabulary or ())
    if not vocabulary:
        raise ValueError("`vocabulary` is empty: a character model needs its vocabulary.")
    _check_length(length)
    _check_temperature(temperature)
    if prompt is None:
        prompt = "\n" if "\n" in vocabulary else vocabulary[0]
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"`prompt` must be a non-empty str; received {prompt!r}.")
    index = {char: i for i, char in enumerate(vocabulary)}
    unknown = sorted(set(prompt) - set(index))
    if unknown:
        raise ValueError(
            f"The prompt has characters outside the model's vocabulary: "
            f"{''.join(unknown)!r}. The vocabulary is {''.join(vocabulary)!r}."
        )
    rng = np.random.default_rng(seed)
    stepper = stateful_stepper(model)
    ids = np.array([[index[c] for c in prompt]], "int32")
    probabilities = stepper.predict_on_batch(ids)[0, -1]
    generated = []
    for _ in range(length):
        choice = _draw_categorical(probabilities, temperature, rng)
        generated.append(vocabulary[choice])
        probabilities = stepper.predict_on_batch(np.array([[choice]], "int32"))[0, -1]
    return prompt + "".join(generated)


def _draw_categorical(probabilities, temperature, rng):
    p = np.clip(np.asarray(probabilities, np.float64), EPSILON, 1.0)
    if temperature == 0:
        return int(np.argmax(p))
    logits = np.log(p) / temperature
    logits -= logits.max()
    p = np.exp(logits)
    return int(rng.choice(len(p), p=p / p.sum()))


def _draw_bernoulli(probabilities, temperature, rng):
    p = np.clip(np.asarray(probabilities, np.float64), EPSILON, 1.0 - EPSILON)
    if temperature == 0:
        return (p > 0.5).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(np.log(p) - np.log1p(-p)) / temperature))
    return (rng.random(p.shape) < p).astype(np.float32)


def chords_to_roll(chords, notes=88, lowest_pitch=LOWEST_PITCH):
    """A piano roll ``(len(chords), notes)`` from lists of MIDI note numbers."""
    roll = np.zeros((len(chords), notes), np.float32)
    for step, chord in enumerate(chords):
        for pitch in chord:
            column = int(pitch) - lowest_pitch
            if not 0 <= column < notes:
                raise ValueError(
                    f"MIDI note {pitch} at step {step} is outside the piano roll "
                    f"({lowest_pitch}..{lowest_pitch + notes - 1})."
                )
            roll[step, column] = 1.0
    return roll


def sample_piano_roll(model, *, steps=64, prompt=None, temperature=1.0, seed=None):
    """Generate ``steps`` time steps of a piano roll with a multilabel model.

    Args:
        model: a model reading a piano roll ``(T, notes)`` and predicting the
            probability of each note at the next step (e.g. `build_model` on
            ``jsb_chorales``).
        steps: int >= 1, steps to generate.
        prompt: array ``(k, notes)`` of 0/1, or a list of chords (lists of MIDI
            note numbers), kept at the start of the result. Default: none, the
            first step is drawn from the model's prediction for a piece's
            first step. As in training (`keras_rnnx.datasets`: step t reads
            frame t - 1, silence before the first), the model reads a silent
            step and then the prompt.
        temperature: float >= 0 (see the module docstring).
        seed: int or None, seed of the draws.

    Returns:
        float32 array ``(k + steps, notes)`` of 0/1: the prompt's ``k`` steps,
        then the generated ones.
    """
    _check_length(steps)
    _check_temperature(temperature)
    notes = model.output_shape[-1]
    if prompt is None:
        roll = np.zeros((0, notes), np.float32)
    elif isinstance(prompt, np.ndarray):
        roll = np.asarray(prompt, np.float32)
    else:
        roll = chords_to_roll(prompt, notes)
    if roll.ndim != 2 or roll.shape[1] != notes:
        raise ValueError(
            f"`prompt` must be steps of {notes} notes; received shape {roll.shape}."
        )
    rng = np.random.default_rng(seed)
    stepper = stateful_stepper(model)
    inputs = np.concatenate([np.zeros((1, notes), np.float32), roll])
    probabilities = stepper.predict_on_batch(inputs[None])[0, -1]
    generated = []
    for _ in range(steps):
        step = _draw_bernoulli(probabilities, temperature, rng)
        generated.append(step)
        probabilities = stepper.predict_on_batch(step[None, None])[0, -1]
    return np.concatenate([roll, np.stack(generated)])


def write_midi(roll, path, *, lowest_pitch=LOWEST_PITCH, ticks_per_step=480, bpm=100, velocity=80):
    """Write a piano roll as a one-track MIDI file (with `mido`).

    Each row is one time step of ``ticks_per_step`` ticks (a quarter note at
    the default 480 ticks per beat); a note on in consecutive rows is held.

    Returns:
        The `mido.MidiFile` written.
    """
    import mido

    roll = np.asarray(roll) > 0.5
    if roll.ndim != 2:
        raise ValueError(f"`roll` must be 2-D (steps, notes); received shape {roll.shape}.")
    midi = mido.MidiFile(ticks_per_beat=ticks_per_step)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    padded = np.vstack([np.zeros((1, roll.shape[1]), bool), roll, np.zeros((1, roll.shape[1]), bool)])
    pending = 0  # ticks since the last message
    for step in range(1, len(padded)):
        off = np.flatnonzero(padded[step - 1] & ~padded[step])
        on = np.flatnonzero(padded[step] & ~padded[step - 1])
        for column in off:
            track.append(mido.Message("note_off", note=int(column) + lowest_pitch, velocity=0, time=pending))
            pending = 0
        for column in on:
            track.append(mido.Message("note_on", note=int(column) + lowest_pitch, velocity=velocity, time=pending))
            pending = 0
        pending += ticks_per_step
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi.save(str(path))
    return midi


def plot_piano_roll(roll, path, *, lowest_pitch=LOWEST_PITCH, title=""):
    """Write a PNG of a piano roll (time across, MIDI pitch up)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    roll = np.asarray(roll, np.float32)
    figure = Figure(figsize=(max(4.0, min(16.0, len(roll) / 8)), 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(
        roll.T,
        origin="lower",
        aspect="auto",
        cmap="Greys",
        interpolation="nearest",
        extent=(0, len(roll), lowest_pitch - 0.5, lowest_pitch + roll.shape[1] - 0.5),
    )
    axes.set_xlabel("time step")
    axes.set_ylabel("MIDI note")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)


def sample(model, task, **kwargs):
    """`sample_text` for a ``char_lm`` task, `sample_piano_roll` for a multilabel one.

    Keyword arguments go to that function (``length`` is ``steps`` for piano rolls).
    """
    if task.kind == "char_lm":
        return sample_text(model, task.vocabulary, **kwargs)
    if task.kind == "multilabel" and task.sequence_output:
        if "length" in kwargs:
            kwargs["steps"] = kwargs.pop("length")
        return sample_piano_roll(model, **kwargs)
    raise ValueError(
        f"Sampling needs a character model or a piano-roll model; task "
        f"{task.name!r} is of kind {task.kind!r}."
    )
