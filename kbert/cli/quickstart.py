"""The main job, offline: fine-tune the real pretrained MiniLM on kbert's own small review set,
show it learned (held-out accuracy), save and reload it, export it to a dynamic-range TFLite
file with metadata, and classify new sentences with that file through MediaPipe's
TextClassifier (the task Android apps run).

  kbert-quickstart --model_dir=out/quickstart

The same program runs as `kbert-quickstart` (installed with kbert),
`python -m kbert.cli.quickstart`, or `python scripts/quickstart.py` in a clone.
"""

from __future__ import annotations

import sys
from pathlib import Path

import kbert  # First: it keeps TensorFlow's start-up lines quiet (kbert.verbosity).
import keras
from absl import flags, logging
from kbert import export
from kbert.cli.data_flags import run_program
from kbert.files import atomic_path

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", kbert.presets.OFFLINE_DEFAULT, "Encoder preset or directory.")
flags.DEFINE_string("model_dir", "out/quickstart", "Where the fine-tuned model is written.")
flags.DEFINE_integer("epochs", 4, "Epochs over the 240 training reviews.")
flags.DEFINE_float("min_accuracy", 0.75, "Fail if held-out accuracy is below this (chance: 0.5).")

NEW_SENTENCES = [
    "The blender is quiet, powerful and easy to clean.",
    "Our table wobbled and the waiter forgot the drinks twice.",
    "Honestly one of the most relaxing weekends away we have had.",
    "The charger stopped working after two days.",
]


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # The printed lines below tell the story.
    keras.utils.set_random_seed(0)
    train, held_out = kbert.data.product_reviews()
    print(f"Fine-tuning {FLAGS.preset} on {len(train)} reviews, {len(held_out)} held out.")
    model = kbert.TextClassifier.from_preset(FLAGS.preset, labels=["negative", "positive"],
                                             sequence_length=64)
    model.compile(learning_rate=1e-4)
    model.fit(train, validation_data=held_out, epochs=FLAGS.epochs, batch_size=16, verbose=2)
    accuracy = model.evaluate_metrics(held_out)["accuracy"]
    print(f"Held-out accuracy: {accuracy:.3f} (chance is 0.500)")

    path = Path(FLAGS.model_dir) / "model.keras"
    with atomic_path(path) as tmp:
        model.save(tmp)
    reloaded = kbert.load_model(path)
    print(f"Saved and reloaded {path}. Classifying new sentences:")
    probabilities = reloaded.predict(NEW_SENTENCES)
    for sentence, label, p in zip(NEW_SENTENCES, reloaded.predict_labels(NEW_SENTENCES),
                                  probabilities):
        print(f"  {label:>8}  {p.max():.2f}  {sentence}")

    tflite = Path(FLAGS.model_dir) / "model.tflite"
    info = export.to_tflite(reloaded, tflite, quantization="dynamic",
                            name="product_review_sentiment")  # metadata written by this call
    print(f"Exported {tflite} ({info['bytes'] / 1e6:.1f} MB, builtin ops only, with metadata). "
          "MediaPipe TextClassifier on the new sentences:")
    for sentence, scores in zip(NEW_SENTENCES, export.mediapipe_classify(tflite, NEW_SENTENCES)):
        label = max(scores, key=scores.get)
        print(f"  {label:>8}  {scores[label]:.2f}  {sentence}")
    if accuracy < FLAGS.min_accuracy:
        sys.exit(f"Held-out accuracy {accuracy:.3f} is below {FLAGS.min_accuracy}: it did not learn.")


def main_program() -> None:
    """The `kbert-quickstart` program."""
    run_program(main, __doc__, __name__)


if __name__ == "__main__":
    main_program()
