"""The README's Python examples run as written (issue 33, item 11), on a tiny encoder and tiny
files at the paths they name, so the documentation cannot drift from the API: a renamed
argument, a removed function or an undefined name fails here.

The only changes made to the code before it runs: the preset ("minilm_l6_uncased" and the
placeholder "path/to/preset") becomes a tiny KerasHub preset (one layer: what the examples do does
not depend on depth), a stream's 10,000 steps become 2, a student's 3 layers 1,
and the one online call (`load_hub_dataset`) reads a local table after binding its arguments
to the real signature. Blocks run in order in one namespace, as a reader pastes them; the
block that switches to the JAX backend runs in its own process.
"""

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import keras_hub
import pytest

import kbert
from tests.conftest import VOCAB, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SUBSTITUTIONS = {"steps_per_epoch=10_000": "steps_per_epoch=2",  # a tiny stream: ~2 batches
                 "num_layers=3": "num_layers=1"}  # the tiny preset has 1 layer


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def prepared(block: str, preset: str) -> str:
    for name in ('"minilm_l6_uncased"', '"path/to/preset"'):
        block = block.replace(name, repr(preset))
    for old, new in SUBSTITUTIONS.items():
        block = block.replace(old, new)
    return block


def write_files(folder: Path) -> None:
    """Tiny files at the paths the README names (relative to a data folder)."""
    def write(path, text):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)

    sentences = [("the film was great", 1), ("a dull book", 0), ("i loved it", 1),
                 ("really bad food", 0), ("a lovely film", 1), ("so boring", 0)]
    write("glue/SST-2/train.tsv", "sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in sentences))
    write("glue/SST-2/dev.tsv", "sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in sentences))
    write("glue/CoLA/train.tsv", "".join(f"src\t{l}\t*\t{t}\n" for t, l in sentences))
    write("big.tsv", "sentence\tlabel\n" + "".join(
        f"{t}\t{['negative', 'positive'][l]}\n" for t, l in sentences * 4))
    conll = ("-DOCSTART- -X- -X- O\n\n" + "Jeremy NNP B-NP B-PER\nIrons NNP I-NP I-PER\n"
             "lives VBZ B-VP O\nin IN B-PP O\nParis NNP B-NP B-LOC\n\n"
             "The DT B-NP O\ndog NN I-NP O\nsleeps VBZ B-VP O\n\n") * 3
    write("conll2003/train.txt", conll)
    write("conll2003/valid.txt", conll)
    context = "jeremy lives in paris and the dog sleeps in london"

    def article(i, answerable=True):
        answers = [{"text": "paris", "answer_start": context.index("paris")}] if answerable else []
        qa = {"id": f"q{i}", "question": "where does jeremy live ?", "answers": answers}
        if not answerable:
            qa.update(question="what is the film ?", is_impossible=True)
        return {"title": f"article {i}", "paragraphs": [{"context": context, "qas": [qa]}]}

    write("squad_v1.1/dev-v1.1-part-a.json",
          json.dumps({"version": "1.1", "data": [article(i) for i in range(32)]}))
    write("squad_v2.0/dev-v2.0-part-a.json", json.dumps(
        {"version": "v2.0", "data": [article(i, i % 2 == 0) for i in range(4)]}))


@pytest.fixture(scope="module")
def readme_preset(tmp_path_factory):
    """A tiny BERT preset of one layer with 512 positions (the README uses windows of 384 and
    128)."""
    directory = tmp_path_factory.mktemp("readme") / "tiny_preset"
    keras.utils.set_random_seed(0)
    keras_hub.models.BertBackbone(vocabulary_size=len(VOCAB), num_layers=1, num_heads=2,
                                  hidden_dim=32, intermediate_dim=64,
                                  max_sequence_length=512).save_to_preset(str(directory))
    tiny_tokenizer().save_to_preset(str(directory))
    return str(directory)


def test_the_substitutions_still_apply():
    # A substitution that no longer matches would let the README's real call run untested.
    text = README.read_text()
    for old in [*SUBSTITUTIONS, '"minilm_l6_uncased"', '"path/to/preset"', "load_hub_dataset("]:
        assert old in text, old


def test_the_python_examples_run_as_written(readme_preset, tmp_path, monkeypatch):
    write_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    real = kbert.data.load_hub_dataset

    def offline_hub(*args, **kwargs):
        inspect.signature(real).bind(*args, **kwargs)  # The README's call fits the real API.
        return kbert.data.read_table("glue/SST-2/train.tsv", "sentence", "label"), ["0", "1"]

    monkeypatch.setattr(kbert.data, "load_hub_dataset", offline_hub)
    blocks = python_blocks()
    assert len(blocks) >= 4
    namespace: dict = {}
    ran = 0
    for number, block in enumerate(blocks):
        if 'os.environ["KERAS_BACKEND"] = "jax"' in block:
            continue  # test_the_jax_example_runs_in_its_own_process
        code = compile(prepared(block, readme_preset), f"README.md python block {number + 1}",
                       "exec")
        exec(code, namespace)  # noqa: S102 - the README's own examples
        ran += 1
    assert ran == len(blocks) - 1
    # What the examples claim, checked on what they made.
    assert namespace["clf"].predict(["a gripping film"]).shape == (1, 2)
    assert len(namespace["ner"].predict([["Jeremy", "lives", "in", "Paris"]])[0]) == 4


def test_the_jax_example_runs_in_its_own_process(readme_preset, tmp_path):
    (block,) = [b for b in python_blocks() if 'os.environ["KERAS_BACKEND"] = "jax"' in b]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", prepared(block, readme_preset)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def test_ci_runs_the_readmes_test_command_and_a_failure_in_it_is_a_red_run():
    (command,) = [line for line in README.read_text().splitlines()
                  if "python -m pytest" in line and line.startswith("python3 -m venv")]
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"{command} || exit $?" in ci.splitlines() and "set -euo pipefail" in ci
    # Why the `|| exit $?`: under set -e a failure inside an && list does not stop the script.
    # The list's shape with each step stubbed: a failing step (pytest's exit 5 here, at any
    # position) ends the run with its status, and nothing after the list runs.
    steps = command.split(" && ")
    for failing in range(len(steps)):
        stubs = ["(exit 5)" if i == failing else "true" for i in range(len(steps))]
        script = f"set -euo pipefail\n{' && '.join(stubs)} || exit $?\necho after\n"
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
        assert done.returncode == 5 and "after" not in done.stdout, failing
