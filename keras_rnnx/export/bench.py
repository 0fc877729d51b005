"""Export benchmark: file size and single-thread latency per step, per layer.

``python -m keras_rnnx.export.bench`` (or `export_benchmark` from a script,
e.g. ``scripts/bench.py --export``) exports ``Input -> layer -> Dense`` with
each layer and times, on one CPU thread:

* ``seq``: the whole-sequence export (batch 1, ``timesteps`` steps) in the
  TFLite interpreter (LiteRT) and in onnxruntime, divided by ``timesteps``;
* ``step``: the streaming export (`to_tflite_step` / `to_onnx_step`), one call.

The reference is `keras.layers.LSTM`: its best route without this package
(TensorFlow's converter on a batch-1, fixed-length concrete function with the
weights frozen: Keras' own TensorList loop) and through `to_tflite`.
Each time is the median of ``repeats`` calls after a warm-up; a step call
includes the Python overhead of one interpreter call (about 10-30 us).
"""

import argparse
import time

import keras
import numpy as np


def _median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _layers(units):
    from keras_rnnx import layers as L

    return {
        "keras.layers.LSTM": lambda: keras.layers.LSTM(units, return_sequences=True),
        "LSTM": lambda: L.LSTM(units, return_sequences=True),
        "PeepholeLSTM": lambda: L.PeepholeLSTM(units, return_sequences=True),
        "CIFGLSTM": lambda: L.CIFGLSTM(units, return_sequences=True),
        "LSTM(layer_norm)": lambda: L.LSTM(units, layer_norm=True, return_sequences=True),
        "GRU": lambda: L.GRU(units, return_sequences=True),
        "MUT3": lambda: L.MUT3(units, return_sequences=True),
        "ClockworkRNN": lambda: L.ClockworkRNN(units, periods=[1, 2, 4, 8], return_sequences=True),
        "GridLSTM2D": lambda: L.GridLSTM2D(units, return_sequences=True),
        "DepthGatedLSTM": lambda: L.DepthGatedLSTM(units, return_sequences=True),
    }


def _tflite_timer(content, x):
    from keras_rnnx.export.tflite_export import signature_runner

    runner, inputs, _ = signature_runner(content, num_threads=1)
    feeds = dict(zip(inputs, x))
    return lambda: runner(**feeds)


def _onnx_timer(content, x):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(content, options, providers=["CPUExecutionProvider"])
    feeds = {i.name: a for i, a in zip(session.get_inputs(), x)}
    return lambda: session.run(None, feeds)


def _stock_keras_lstm(model, timesteps, features):
    """keras.layers.LSTM with Keras' own loop, batch 1, weights frozen by hand.

    What a user can do without this package: TensorFlow's converter on a
    batch-1 concrete function (Keras' TensorList loop converts when every
    shape is static). Without freezing (``model`` as trackable object) the
    interpreter fails on READ_VARIABLE; the weights are constants here.
    """
    import tensorflow as tf

    from keras_rnnx.export.tflite_export import convert_function
    from keras_rnnx.export.tflite_export import stateless_function

    specs = [tf.TensorSpec((1, timesteps, features), tf.float32, name="input_0")]
    return convert_function(stateless_function(model, specs), specs)


def export_benchmark(units=128, features=64, timesteps=100, repeats=20, names=None):
    """Rows ``{layer, route, format, size_kib, us_per_step}`` (see module doc)."""
    from keras_rnnx import export
    from keras_rnnx.export import to_onnx
    from keras_rnnx.export import to_tflite

    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, timesteps, features)).astype(np.float32)
    x_step = rng.standard_normal((1, features)).astype(np.float32)
    rows = []

    def add(layer, route, fmt, content, timer, steps):
        seconds = _median_seconds(timer, repeats)
        rows.append({
            "layer": layer, "route": route, "format": fmt,
            "size_kib": round(len(content) / 1024, 1),
            "us_per_step": round(1e6 * seconds / steps, 1),
        })

    for name, make in _layers(units).items():
        if names and name not in names:
            continue
        inputs = keras.Input((None, features))
        layer = make()
        model = keras.Model(inputs, keras.layers.Dense(8)(layer(inputs)))
        if name == "keras.layers.LSTM":
            content = _stock_keras_lstm(model, timesteps, features)
            add(name, "Keras loop, batch 1, T fixed", "tflite", content, _tflite_timer(content, [x]), timesteps)
        loop = to_tflite(model, verify=False)
        add(name, "loop", "tflite", loop.content, _tflite_timer(loop.content, [x]), timesteps)
        fused = to_tflite(model, batch_size=1, verify=False)
        if fused.fused:
            add(name, "fused", "tflite", fused.content, _tflite_timer(fused.content, [x]), timesteps)
        if name != "ClockworkRNN":
            onnx_result = to_onnx(model, verify=False)
            route = "fused" if onnx_result.fused else "loop"
            add(name, route, "onnx", onnx_result.content, _onnx_timer(onnx_result.content, [x]), timesteps)
        states = export.initial_states(layer, 1)
        step = export.to_tflite_step(layer, verify=False)
        add(name, "step", "tflite", step.content, _tflite_timer(step.content, [x_step, *states]), 1)
        step = export.to_onnx_step(layer, verify=False)
        route = "step, fused" if step.fused else "step"
        add(name, route, "onnx", step.content, _onnx_timer(step.content, [x_step, *states]), 1)
    return rows


def markdown_table(rows):
    lines = [
        "| layer | format | route | size (KiB) | us / step |",
        "| --- | --- | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['format']} | {r['route']} | {r['size_kib']} | {r['us_per_step']} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--layers", nargs="*", default=None)
    args = parser.parse_args(argv)
    rows = export_benchmark(args.units, args.features, args.timesteps, args.repeats, args.layers)
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
