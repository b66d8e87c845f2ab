"""Reference parity: kbert against Hugging Face transformers + PyTorch on the same data, the same
checkpoint directory and the same recipe, one task at a time; both scores as JSON.

  python -m benchmarks.parity --task=ner --seeds=0,1 \
      --reference_python=/work/refenv/bin/python --output=runs/parity_ner.json
  python -m benchmarks.parity --task=pos --seeds=0                  # CoNLL POS tags
  python -m benchmarks.parity --task=squad_v2 --seeds=0             # SQuAD v2.0

(From the repository root, as a module: see the package's docstring.)

Each side runs in its own process (`python -m benchmarks.parity worker kbert|reference
'<json>'` prints one JSON line), so TensorFlow's and PyTorch's thread pools never share one,
and the reference side may run in a virtualenv of its own (`--reference_python`: it imports
numpy, torch, transformers and seqeval, never kbert or TensorFlow). Needs the bench extras
(`pip install -e ".[bench]"`: torch 2.13 CPU, transformers, seqeval comes with kbert).

The recipe, both sides: the first `--train_examples` training rows, `--epochs`, peak
`--learning_rate`, batch `--batch_size`, maximum length `--sequence_length`, AdamW (weight
decay 0.01, none on LayerNorm and biases, epsilon `--epsilon` on the reference side; kbert's
own default on its side), 10% linear warm-up then linear decay to 0, global clipnorm 1.0,
dropout 0.1 (the checkpoint's). kbert's side is its public API with its defaults
(`from_preset`, `compile(learning_rate=...)`, `fit`, `predict`); the reference side is the
plain loop a transformers user writes (what `Trainer` does, without its logging: warm-up steps
rounded up as Trainer rounds them), benchmarks/reference.py's, shared with the other
comparisons: batches in a random order fixed by the seed, padded to their longest row,
transformers' linear schedule with warm-up.

`--kbert_options` (JSON) changes kbert's side for ablations: `{"group_by_length": true|false}`
(default: the task's),
`{"optimizer": "keras"}` (Keras's own AdamW with epsilon 1e-6: kbert before issue 22),
`{"epsilon": 1e-8}`, `{"dropout": 0.0}` (head only), `{"head_initializer": "truncated_normal"}`
(the heads' initializer before issue 22), `{"pooling": "pooled"}` (sequence tasks: [CLS]
through BERT's pooler as transformers does, instead of kbert's mean pooling),
`{"lazy_embeddings": true}` (`compile(lazy_embeddings=True)`),
`{"tokenizer": "keras_hub"}` (KerasHub's own tokenizer, NFKC case folding and no accent
stripping: kbert's tokenization before issue 34). Every task adds
a reader, a kbert worker and a reference worker to TASKS: tagging (NER, POS), single texts
(SST-2), pairs (MRPC), regression (STS-B) and extractive QA (SQuAD v1.1 `squad`, v2.0
`squad_v2`). QA workers return their answers and null-score differences, and the driver
scores both sides with the same official SQuAD evaluation (tf-models-official's, through
kbert).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from typing import Callable

import numpy as np

from benchmarks import in_subprocess, reference

CONLL = "../shared/data/conll2003"
GLUE = "../shared/data/glue"
SQUAD = "../shared/data"


# ------------------------------------------------------------------------------------- data
def read_conll(path: str, tag_column: int, count: int | None = None):
    """(sentences as word lists, tag lists) of a CoNLL file, the first `count`: blank lines end
    a sentence, `-DOCSTART-` lines are skipped. A plain reader, so that the reference worker
    never imports kbert; the kbert worker reads with `kbert.data.read_conll`, and both report a
    fingerprint of what they read (`data_fingerprint`) for the driver to compare."""
    words, tags, sentence, labels = [], [], [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if sentence:
                    words.append(sentence)
                    tags.append(labels)
                    sentence, labels = [], []
                    if count and len(words) == count:
                        break
                continue
            fields = line.split()
            sentence.append(fields[0])
            labels.append(fields[tag_column])
    if sentence and not (count and len(words) == count):
        words.append(sentence)
        tags.append(labels)
    return words, tags


def data_fingerprint(*parts) -> str:
    """A short hash of the examples a side trained and evaluated on."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def tag_report(true: list[list[str]], predicted: list[list[str]], iob: bool) -> dict:
    """Word accuracy, and for IOB tags entity precision/recall/F1 (seqeval, strict IOB2), in
    percent: the same call on both sides."""
    flat_true = [t for s in true for t in s]
    flat_pred = [t for s in predicted for t in s]
    report = {"accuracy": 100 * float(np.mean([a == b for a, b in zip(flat_true, flat_pred)]))}
    if iob:
        from seqeval import metrics
        from seqeval.scheme import IOB2
        report.update(
            f1=100 * metrics.f1_score(true, predicted, mode="strict", scheme=IOB2),
            precision=100 * metrics.precision_score(true, predicted, mode="strict", scheme=IOB2),
            recall=100 * metrics.recall_score(true, predicted, mode="strict", scheme=IOB2))
    return report


def to_iob2(tags: list[str]) -> list[str]:
    """An I-X that does not continue an X entity becomes B-X (what kbert's tagger does to its
    predictions; reported on the reference side too, as f1_repaired). kbert.data.conll.to_iob2's
    rule, written again: the reference worker runs in a virtualenv without kbert."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def read_tsv(path: str, text: str, label: str, pair: str | None = None,
             count: int | None = None):
    """(texts, pairs or None, labels as strings) of a GLUE TSV, the first `count`: quoting off
    (GLUE holds bare quote characters) and a UTF-8 byte-order mark skipped, as kbert's
    `read_table` reads it. A plain reader, for the reference worker."""
    import csv

    texts, pairs, labels = [], [], []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row in rows:
            texts.append(row[text])
            if pair:
                pairs.append(row[pair])
            labels.append(row[label])
            if count and len(texts) == count:
                break
    return texts, (pairs if pair else None), labels


def sequence_report(true, predicted, regression: bool) -> dict:
    """Accuracy and F1 (binary: of the second label; macro otherwise) in percent, or Pearson
    and Spearman correlations x 100 for regression: the same call on both sides."""
    if regression:
        from scipy import stats

        true, predicted = np.asarray(true, float), np.asarray(predicted, float)
        return {"pearson": 100 * float(stats.pearsonr(true, predicted)[0]),
                "spearman": 100 * float(stats.spearmanr(true, predicted)[0])}
    from sklearn.metrics import f1_score

    labels = sorted(set(true))
    average = "binary" if len(labels) == 2 else "macro"
    return {"accuracy": 100 * float(np.mean([a == b for a, b in zip(true, predicted)])),
            "f1": 100 * float(f1_score(true, predicted, average=average, pos_label=labels[-1]
                                       if average == "binary" else 1))}


def read_squad_json(path: str) -> list[dict]:
    """Every question of an official SQuAD v1.1/v2.0 JSON file in file order, as {"id",
    "question", "context", "answers", "title"} ("answers" empty when unanswerable). A plain
    reader, for the reference worker and the driver; the kbert worker reads with
    `kbert.data.read_squad`, and the data fingerprints compare the two."""
    with open(path, encoding="utf-8") as handle:
        articles = json.load(handle)["data"]
    return [{"id": qa["id"], "question": qa["question"], "context": paragraph["context"],
             "answers": [] if qa.get("is_impossible") else qa["answers"],
             "title": article["title"]}
            for article in articles for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]]


def squad_split(titles: list[str], train_count: int, eval_count: int | None):
    """(training indices, evaluation indices): the first `train_count` questions in file
    order, and the first `eval_count` questions of articles none of which trained (the rest
    of the article the training cut ends in is left out: SQuAD is split by article)."""
    train = list(range(min(train_count, len(titles))))
    seen = {titles[i] for i in train}
    rest = [i for i, title in enumerate(titles) if title not in seen]
    return train, rest[:eval_count] if eval_count else rest


def squad_scores(args: dict, result: dict) -> dict:
    """Official SQuAD scores of a side's predictions (the driver scores both sides with the
    same code: kbert's `metrics.squad_report`, the official evaluation script).
    v2.0 adds the scores at the best null threshold on these questions (`best_f1`), which is
    how kbert's `fit_null_threshold` and the official script both choose it."""
    from kbert.training import metrics

    records = read_squad_json(args["squad_file"])
    _, evaluation = squad_split([r["title"] for r in records], args["train_examples"],
                                args["eval_examples"])
    dataset = [{"title": r["title"], "paragraphs": [{"context": r["context"], "qas": [
        {"id": r["id"], "question": r["question"], "answers": r["answers"]}]}]}
        for r in (records[i] for i in evaluation)]
    predictions, differences = result.pop("predictions"), result.pop("null_score_diffs")
    if not args["version_2"]:
        # Also on the questions whose context holds a non-ASCII letter (accents, other
        # scripts): where the tokenization of issue 34 changed what the model reads.
        subset = [a for a in dataset if any(
            ord(c) > 127 and c.isalpha() for c in a["paragraphs"][0]["context"])]
        ids = {a["paragraphs"][0]["qas"][0]["id"] for a in subset}
        accented = metrics.squad_report(subset, {q: t for q, t in predictions.items()
                                                 if q in ids}) if subset else {}
        return {**metrics.squad_report(dataset, predictions),
                **{f"{k}_non_ascii_context": v for k, v in accented.items()},
                "questions_non_ascii_context": len(subset)}
    at_zero = {q: ("" if differences[q] > 0.0 else text) for q, text in predictions.items()}
    best_f1, threshold = metrics.best_null_threshold(dataset, predictions, differences)
    return {**metrics.squad_report(dataset, at_zero, version_2=True), "best_f1": best_f1,
            "best_f1_thresh": threshold}


# ------------------------------------------------------------------------------------- tasks
def tagging_data(args: dict):
    train = read_conll(args["train_file"], args["tag_column"], args["train_examples"])
    test = read_conll(args["eval_file"], args["tag_column"], args["eval_examples"])
    return train, test


def kbert_start(args: dict):
    """(keras, tf, kbert, options) for a kbert worker: threads and seed set."""
    import keras
    import tensorflow as tf

    import kbert

    options = args.get("kbert_options") or {}
    tf.config.threading.set_intra_op_parallelism_threads(args["threads"])
    keras.utils.set_random_seed(args["seed"])
    if "head_initializer" in options:
        kbert.tasks.heads.set_head_initializer(options["head_initializer"])
    return keras, tf, kbert, options


def kbert_compile(model, args: dict, options: dict) -> None:
    """`compile(learning_rate=...)`, kbert's recipe; or, for an ablation of the optimizer step,
    the same recipe with one thing changed."""
    import keras

    from kbert.training import optimizer as kbert_optimizer

    if options.get("optimizer") != "keras" and "epsilon" not in options:
        model.compile(learning_rate=args["learning_rate"],
                      lazy_embeddings=options.get("lazy_embeddings", False))
        return
    optimizer = kbert_optimizer.bert_adamw(args["learning_rate"], warmup_ratio=0.1, replan=True)
    config = optimizer.get_config()
    # "keras" is the optimizer before issue 22: Keras's AdamW with epsilon 1e-6.
    config["epsilon"] = options.get(
        "epsilon", 1e-6 if options.get("optimizer") == "keras" else config["epsilon"])
    cls = keras.optimizers.AdamW if options.get("optimizer") == "keras" else type(optimizer)
    optimizer = cls.from_config(config)
    optimizer.exclude_from_weight_decay(var_names=kbert_optimizer.NO_DECAY)
    model.compile(optimizer=optimizer)


def kbert_fit(model, train, args: dict, options: dict) -> dict:
    start = time.perf_counter()
    history = model.fit(train, epochs=args["epochs"], batch_size=args["batch_size"],
                        seed=args["seed"], group_by_length=options.get("group_by_length"),
                        verbose=0)
    return {"seconds": time.perf_counter() - start,
            "steps": int(model.optimizer.iterations.numpy()),
            "epoch_loss": history.history["loss"]}


def kbert_head_options(options: dict) -> dict:
    """Task settings an ablation changes: the head's dropout, and a classifier's pooling
    ("pooled": [CLS] through BERT's pooler, what transformers' sequence classifier reads)."""
    return {k: options[k] for k in ("dropout", "pooling") if k in options}


def kbert_tagging(args: dict) -> dict:
    keras, tf, kbert, options = kbert_start(args)
    train = kbert.data.read_conll(args["train_file"], tag_column=args["tag_column"]).take(
        args["train_examples"] or 10**9)
    test = kbert.data.read_conll(args["eval_file"], tag_column=args["tag_column"])
    if args["eval_examples"]:
        test = test.take(args["eval_examples"])
    labels = sorted({t for s in train.tags for t in s} | {t for s in test.tags for t in s})
    model = kbert.TokenClassifier.from_preset(
        args["preset"], labels=labels, sequence_length=args["sequence_length"],
        **kbert_head_options(options))
    kbert_compile(model, args, options)
    run = kbert_fit(model, train, args, options)
    scores = model.predict_scores(test)
    if args.get("scores_dir"):  # Per-word probabilities, to study decoding offline.
        np.savez_compressed(os.path.join(args["scores_dir"], f"kbert_seed{args['seed']}.npz"),
                            *scores, labels=np.array(labels))
    raw = [[labels[j] for j in s.argmax(-1)] for s in scores]
    iob = model.iob
    report = tag_report(test.tags, model.tags_from_scores(scores), iob)  # What predict gives.
    if iob:  # The same probabilities decoded the other ways: the raw argmax, and it repaired.
        report["f1_unrepaired"] = tag_report(test.tags, raw, True)["f1"]
        report["f1_repaired"] = tag_report(test.tags, [to_iob2(t) for t in raw], True)["f1"]
    return {"framework": f"kbert (Keras {keras.__version__}, TensorFlow {tf.__version__})",
            **run, **report,
            "data": data_fingerprint(train.words, train.tags, test.words, test.tags)}


def kbert_sequence(args: dict) -> dict:
    """Single-text or pair classification, or regression, through kbert's public API."""
    keras, tf, kbert, options = kbert_start(args)
    read = dict(text_column=args["text"], label_column=args["label"],
                text_pair_column=args.get("pair"))
    train = kbert.data.read_table(args["train_file"], **read,
                                  max_rows=args["train_examples"] or None)
    test = kbert.data.read_table(args["eval_file"], **read,
                                 max_rows=args["eval_examples"] or None)
    regression = args["regression"]
    if regression:
        model = kbert.TextRegressor.from_preset(
            args["preset"], sequence_length=args["sequence_length"], **kbert_head_options(options))
    else:
        labels = sorted(set(map(str, train.labels)) | set(map(str, test.labels)))
        model = kbert.TextClassifier.from_preset(
            args["preset"], labels=labels, sequence_length=args["sequence_length"],
            **kbert_head_options(options))
    kbert_compile(model, args, options)
    run = kbert_fit(model, train, args, options)
    predicted = (model.predict(test) if regression else model.predict_labels(test))
    true = [float(v) for v in test.labels] if regression else [str(v) for v in test.labels]
    return {"framework": f"kbert (Keras {keras.__version__}, TensorFlow {tf.__version__})",
            **run, **sequence_report(true, list(predicted), regression),
            "data": data_fingerprint(list(train.texts), list(train.text_pairs or []),
                                     [str(v) for v in train.labels], list(test.texts))}


def kbert_qa(args: dict) -> dict:
    """SQuAD v1.1/v2.0 through kbert's public API: `QuestionAnswerer.from_preset` with the
    recipe's window length and stride, `fit`, then `best_spans` (each question's best span and
    its null-score difference, which the driver scores)."""
    keras, tf, kbert, options = kbert_start(args)
    examples = kbert.data.read_squad(args["squad_file"])
    train_rows, eval_rows = squad_split(examples.titles, args["train_examples"],
                                        args["eval_examples"])
    train, test = examples.select(train_rows), examples.select(eval_rows)
    model = kbert.QuestionAnswerer.from_preset(
        args["preset"], sequence_length=args["sequence_length"], doc_stride=args["doc_stride"],
        version_2_with_negative=args["version_2"], **kbert_head_options(options))
    if options.get("tokenizer") == "keras_hub":  # The tokenization before issue 34.
        import keras_hub

        model.preprocessor.tokenizer = keras_hub.models.BertTokenizer(
            vocabulary=model.preprocessor.tokenizer.get_vocabulary(), lowercase=True)
    kbert_compile(model, args, options)
    run = kbert_fit(model, train, args, options)
    _, spans = model.best_spans(test)
    return {"framework": f"kbert (Keras {keras.__version__}, TensorFlow {tf.__version__})",
            **run, "windows": len(model.prepare(train).windows.example),
            "predictions": {q: s.text for q, s in zip(test.ids, spans)},
            "null_score_diffs": {q: float(s.null_score_diff) for q, s in zip(test.ids, spans)},
            "data": data_fingerprint(train.ids, train.questions, test.ids)}


def reference_model_and_loop(args: dict, model, batch_of) -> tuple[float, list[float]]:
    """Trains a transformers model on `args["train_rows"]` rows with the recipe's epochs, batch
    size, peak learning rate, epsilon and seed: benchmarks/reference.py's recipe and loop (what
    `Trainer` does). `batch_of(rows)` gives the model's keyword inputs with `labels`. Returns
    (seconds, mean loss of each epoch)."""
    run = reference.fit(model, batch_of, args["train_rows"], batch_size=args["batch_size"],
                        epochs=args["epochs"], learning_rate=args["learning_rate"],
                        seed=args["seed"], epsilon=args["epsilon"])
    return run["seconds"], run["epoch_loss"]


def tagging_io(tokenizer, labels: list[str], length: int):
    """(encode, predict) of a transformers token classifier, first sub-token labelled:
    `encode(sentences, tags=None)` gives (tokenizer output, targets with -100 elsewhere, or
    None); `predict(model, sentences)` gives (each word's tag, words cut off staying "O"; how
    many sentences were cut). Shared by this harness and the distillation study's reference."""
    import torch

    index = {label: i for i, label in enumerate(labels)}

    def encode(sentences, sentence_tags=None):
        enc = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=length,
                        padding=True, return_tensors="pt")
        if sentence_tags is None:
            return enc, None
        targets = torch.full_like(enc["input_ids"], -100)
        for row, row_tags in enumerate(sentence_tags):
            previous = None
            for position, word in enumerate(enc.word_ids(row)):
                if word is not None and word != previous:  # A word's first sub-token.
                    targets[row, position] = index[row_tags[word]]
                previous = word
        return enc, targets

    def predict(model, test_words):
        predicted, cut = [], 0
        with torch.inference_mode():
            for i in range(0, len(test_words), 64):
                sentences = test_words[i:i + 64]
                enc, _ = encode(sentences)
                best = model(**enc).logits.argmax(-1).numpy()
                for row, sentence in enumerate(sentences):
                    tags_out, previous = ["O"] * len(sentence), None  # Words cut off stay "O".
                    for position, word in enumerate(enc.word_ids(row)):
                        if word is not None and word != previous:
                            tags_out[word] = labels[best[row, position]]
                        previous = word
                    cut += sum(1 for w in enc.word_ids(row) if w is not None) < len(sentence)
                    predicted.append(tags_out)
        return predicted, cut

    return encode, predict


def tagging_scores(test_tags, predicted, labels) -> dict:
    """`tag_report`, and for IOB tags `f1_repaired` (predictions through `to_iob2`)."""
    iob = any(label.startswith("B-") for label in labels)
    report = tag_report(test_tags, predicted, iob)
    if iob:
        report["f1_repaired"] = tag_report(test_tags, [to_iob2(t) for t in predicted], True)["f1"]
    return report


def reference_tagging(args: dict) -> dict:
    import torch
    import transformers

    torch.set_num_threads(args["threads"])
    torch.manual_seed(args["seed"])
    (words, tags), (test_words, test_tags) = tagging_data(args)
    labels = sorted({t for s in tags for t in s} | {t for s in test_tags for t in s})
    tokenizer = transformers.AutoTokenizer.from_pretrained(args["checkpoint"])
    model = transformers.AutoModelForTokenClassification.from_pretrained(
        args["checkpoint"], num_labels=len(labels))
    encode, predict = tagging_io(tokenizer, labels, args["sequence_length"])

    def batch_of(rows):
        enc, targets = encode([words[i] for i in rows], [tags[i] for i in rows])
        return {**enc, "labels": targets}

    steps_per_epoch = math.ceil(len(words) / args["batch_size"])
    seconds, epoch_loss = reference_model_and_loop({**args, "train_rows": len(words)}, model,
                                                   batch_of)
    predicted, cut = predict(model, test_words)
    return {"framework": f"transformers {transformers.__version__} + PyTorch {torch.__version__}",
            "seconds": seconds, "steps": steps_per_epoch * args["epochs"],
            "epoch_loss": epoch_loss, **tagging_scores(test_tags, predicted, labels),
            "truncated_eval_sentences": cut,
            "data": data_fingerprint(words, tags, test_words, test_tags)}


def sequence_io(tokenizer, length: int):
    """(encode, predict) of a transformers sequence model: `encode(rows, texts, pairs)` gives
    the tokenizer's padded batch of those rows; `predict(model, texts, pairs)` every row's
    logits (batches of 64). Shared by this harness and the distillation study's reference."""
    import torch

    def encode(rows, text, pair):
        return tokenizer([text[i] for i in rows], [pair[i] for i in rows] if pair else None,
                         truncation=True, max_length=length, padding=True, return_tensors="pt")

    def predict(model, texts, pairs):
        outputs = []
        with torch.inference_mode():
            for i in range(0, len(texts), 64):
                rows = range(i, min(i + 64, len(texts)))
                outputs.append(model(**encode(rows, texts, pairs)).logits.numpy())
        return np.concatenate(outputs)

    return encode, predict


def reference_sequence(args: dict) -> dict:
    import torch
    import transformers

    torch.set_num_threads(args["threads"])
    torch.manual_seed(args["seed"])
    columns = (args["text"], args["label"], args.get("pair"))
    texts, pairs, labels = read_tsv(args["train_file"], *columns, args["train_examples"])
    test_texts, test_pairs, test_labels = read_tsv(args["eval_file"], *columns,
                                                   args["eval_examples"])
    regression = args["regression"]
    names = [] if regression else sorted(set(labels) | set(test_labels))
    tokenizer = transformers.AutoTokenizer.from_pretrained(args["checkpoint"])
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        args["checkpoint"], num_labels=1 if regression else len(names),
        problem_type="regression" if regression else "single_label_classification")
    encode, predict = sequence_io(tokenizer, args["sequence_length"])

    def batch_of(rows):
        targets = (torch.tensor([float(labels[i]) for i in rows]) if regression else
                   torch.tensor([names.index(labels[i]) for i in rows]))
        return {**encode(rows, texts, pairs), "labels": targets}

    steps_per_epoch = math.ceil(len(texts) / args["batch_size"])
    seconds, epoch_loss = reference_model_and_loop({**args, "train_rows": len(texts)}, model,
                                                   batch_of)
    outputs = predict(model, test_texts, test_pairs)
    predicted = (outputs[:, 0].tolist() if regression else [names[j] for j in outputs.argmax(-1)])
    true = [float(v) for v in test_labels] if regression else test_labels
    return {"framework": f"transformers {transformers.__version__} + PyTorch {torch.__version__}",
            "seconds": seconds, "steps": steps_per_epoch * args["epochs"],
            "epoch_loss": epoch_loss, **sequence_report(true, predicted, regression),
            "data": data_fingerprint(texts, pairs or [], labels, test_texts)}


def reference_qa(args: dict) -> dict:
    """SQuAD the way transformers' `run_qa.py` example does it: windows by the fast tokenizer's
    overflowing tokens (`truncation="only_second"`, offsets mapped back to characters), a window
    without the whole answer labelled [CLS], and its `postprocess_qa_predictions`: the 20 best
    starts x 20 best ends of every window, spans of at most 30 tokens inside the context, the
    null score the lowest [CLS] score over the windows. transformers' `stride` is the overlap
    between windows; it is set per question so that windows start `doc_stride` tokens apart,
    kbert's (and Google BERT's) meaning of the stride, so both sides see the same windows."""
    import torch
    import transformers

    torch.set_num_threads(args["threads"])
    torch.manual_seed(args["seed"])
    records = read_squad_json(args["squad_file"])
    train_rows, eval_rows = squad_split([r["title"] for r in records], args["train_examples"],
                                        args["eval_examples"])
    train, test = [records[i] for i in train_rows], [records[i] for i in eval_rows]
    tokenizer = transformers.AutoTokenizer.from_pretrained(args["checkpoint"])
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(args["checkpoint"])
    length, n_best, longest = args["sequence_length"], 20, 30

    def windows(record):
        question = record["question"].lstrip()
        room = length - 3 - len(tokenizer(question, add_special_tokens=False)["input_ids"])
        enc = tokenizer(question, record["context"], truncation="only_second",
                        max_length=length, stride=max(0, room - args["doc_stride"]),
                        return_overflowing_tokens=True, return_offsets_mapping=True)
        out = []
        for w in range(len(enc["input_ids"])):
            sequence_ids = enc.sequence_ids(w)
            offsets = [o if s == 1 else None for o, s in zip(enc["offset_mapping"][w],
                                                             sequence_ids)]
            start = end = 0  # [CLS]: unanswerable, or the answer is not all in this window.
            if record["answers"]:
                first = record["answers"][0]
                begin, finish = first["answer_start"], first["answer_start"] + len(first["text"])
                inside = [i for i, o in enumerate(offsets) if o is not None]
                if offsets[inside[0]][0] <= begin and offsets[inside[-1]][1] >= finish:
                    start = next(i for i in inside if offsets[i][1] > begin)
                    end = max(i for i in inside if offsets[i][0] < finish)
            out.append({"input_ids": enc["input_ids"][w],
                        "token_type_ids": enc["token_type_ids"][w], "offsets": offsets,
                        "start": start, "end": end})
        return out

    features = [f for record in train for f in windows(record)]

    def batch_of(rows):
        padded = tokenizer.pad([{k: features[i][k] for k in ("input_ids", "token_type_ids")}
                                for i in rows], return_tensors="pt")
        return {**padded, "start_positions": torch.tensor([features[i]["start"] for i in rows]),
                "end_positions": torch.tensor([features[i]["end"] for i in rows])}

    steps_per_epoch = math.ceil(len(features) / args["batch_size"])
    seconds, epoch_loss = reference_model_and_loop({**args, "train_rows": len(features)}, model,
                                                   batch_of)
    predictions, differences = {}, {}
    with torch.inference_mode():
        for record in test:
            spans, null = [], None
            parts = windows(record)
            padded = tokenizer.pad([{k: f[k] for k in ("input_ids", "token_type_ids")}
                                    for f in parts], return_tensors="pt")
            logits = model(**padded)
            for f, starts, ends in zip(parts, logits.start_logits.numpy(),
                                       logits.end_logits.numpy()):
                null = min(null if null is not None else np.inf, starts[0] + ends[0])
                offsets = f["offsets"] + [None] * (len(starts) - len(f["offsets"]))
                for s in np.argsort(starts)[::-1][:n_best]:
                    for e in np.argsort(ends)[::-1][:n_best]:
                        if offsets[s] is None or offsets[e] is None or not 0 <= e - s < longest:
                            continue
                        spans.append((starts[s] + ends[e], offsets[s][0], offsets[e][1]))
            best = max(spans) if spans else (-np.inf, 0, 0)
            predictions[record["id"]] = record["context"][best[1]:best[2]]
            differences[record["id"]] = float(null - best[0]) if spans else 1e9
    return {"framework": f"transformers {transformers.__version__} + PyTorch {torch.__version__}",
            "seconds": seconds, "steps": steps_per_epoch * args["epochs"],
            "epoch_loss": epoch_loss, "windows": len(features), "predictions": predictions,
            "null_score_diffs": differences,
            "data": data_fingerprint([r["id"] for r in train], [r["question"] for r in train],
                                     [r["id"] for r in test])}


@dataclasses.dataclass(frozen=True)
class ParityTask:
    """One task of the harness: its workers, its default data and recipe, and its score."""

    kbert: Callable[[dict], dict]
    reference: Callable[[dict], dict]
    defaults: dict
    metric: str
    # Scores a side's result in the driver (both sides by the same code), when the workers
    # return predictions rather than scores.
    score: Callable[[dict, dict], dict] | None = None


TAGGING = dict(train_file=f"{CONLL}/train.txt", eval_file=f"{CONLL}/valid.txt",
               train_examples=3000, eval_examples=None, epochs=2, learning_rate=8e-5,
               sequence_length=128)
QA = dict(train_examples=3000, eval_examples=1000, epochs=2, learning_rate=8e-5,
          sequence_length=256, doc_stride=96, version_2=False)
SEQUENCE = dict(eval_examples=None, epochs=2, learning_rate=5e-5, sequence_length=128,
                regression=False)
TASKS = {
    "ner": ParityTask(kbert_tagging, reference_tagging, {**TAGGING, "tag_column": -1}, "f1"),
    "pos": ParityTask(kbert_tagging, reference_tagging, {**TAGGING, "tag_column": 1},
                      "accuracy"),
    # Single sentences: SST-2, the first 4,000 training rows, 1 epoch, scored on its dev set.
    "sst2": ParityTask(kbert_sequence, reference_sequence, {
        **SEQUENCE, "train_file": f"{GLUE}/SST-2/train.tsv", "eval_file": f"{GLUE}/SST-2/dev.tsv",
        "text": "sentence", "label": "label", "train_examples": 4000, "epochs": 1,
        "sequence_length": 64}, "accuracy"),
    # Pairs: MRPC (paraphrase), all 3,668 training pairs, 3 epochs.
    "mrpc": ParityTask(kbert_sequence, reference_sequence, {
        **SEQUENCE, "train_file": f"{GLUE}/MRPC/train.tsv", "eval_file": f"{GLUE}/MRPC/dev.tsv",
        "text": "#1 String", "pair": "#2 String", "label": "Quality", "train_examples": None,
        "epochs": 3}, "accuracy"),
    # Regression: STS-B similarity 0-5, all 5,749 training pairs, 3 epochs, Pearson x 100.
    "stsb": ParityTask(kbert_sequence, reference_sequence, {
        **SEQUENCE, "train_file": f"{GLUE}/STS-B/train.tsv", "eval_file": f"{GLUE}/STS-B/dev.tsv",
        "text": "sentence1", "pair": "sentence2", "label": "score", "train_examples": None,
        "epochs": 3, "regression": True}, "pearson"),
    # SQuAD v1.1: the first 3,000 questions of part a, 2 epochs, lr 8e-5, windows of 256
    # tokens starting 96 apart; scored on the first 1,000 questions of the articles after.
    "squad": ParityTask(kbert_qa, reference_qa, {
        **QA, "squad_file": f"{SQUAD}/squad_v1.1/dev-v1.1-part-a.json"}, "f1", squad_scores),
    # SQuAD v2.0 (a third of the questions unanswerable), the same recipe from the pretrained
    # checkpoint; scored at the best null threshold on the evaluation questions (both sides).
    "squad_v2": ParityTask(kbert_qa, reference_qa, {
        **QA, "squad_file": f"{SQUAD}/squad_v2.0/dev-v2.0-part-a.json", "version_2": True},
        "best_f1", squad_scores),
}


# ------------------------------------------------------------------------------------- driver
def run_worker(python: str, side: str, args: dict) -> dict:
    """Runs one side in a fresh process with `python`; {"error": ...} if it fails."""
    return in_subprocess("benchmarks.parity", "worker", side, json.dumps(args), python=python,
                         threads=args["threads"])


def summarize(task: ParityTask, runs: list[dict]) -> dict:
    """Mean score of each side over the seeds, and kbert minus reference."""
    summary = {}
    for side in ("kbert", "reference"):
        scores = [r[side][task.metric] for r in runs if task.metric in r.get(side, {})]
        summary[side] = float(np.mean(scores)) if scores else None
    if None not in summary.values():
        summary["difference"] = summary["kbert"] - summary["reference"]
    return summary


def main(argv):
    from absl import flags

    import kbert  # Only the driver and kbert's worker import kbert.

    FLAGS = flags.FLAGS
    task = TASKS[FLAGS.task]
    args = {**task.defaults, "task": FLAGS.task, "preset": FLAGS.preset,
            "checkpoint": kbert.presets.resolve(FLAGS.preset),
            "batch_size": FLAGS.batch_size, "epsilon": FLAGS.epsilon,
            "threads": FLAGS.threads or os.cpu_count(),
            "kbert_options": json.loads(FLAGS.kbert_options or "{}"),
            "scores_dir": FLAGS.scores_dir}
    if FLAGS.train_file and "squad_file" in args:  # QA: one file, split by article.
        args["squad_file"] = FLAGS.train_file
    for name in ("train_file", "eval_file", "train_examples", "eval_examples", "epochs",
                 "learning_rate", "sequence_length"):
        if getattr(FLAGS, name) is not None:
            args[name] = getattr(FLAGS, name)
    pythons = {"kbert": sys.executable, "reference": FLAGS.reference_python or sys.executable}
    runs = []
    for seed in map(int, FLAGS.seeds):
        run = {"seed": seed}
        for side in FLAGS.sides:
            run[side] = run_worker(pythons[side], side, {**args, "seed": seed})
            if task.score and "predictions" in run[side]:
                run[side].update(task.score(args, run[side]))
            print(json.dumps({"seed": seed, "side": side, **run[side]}), flush=True)
        if all("data" in run.get(side, {}) for side in ("kbert", "reference")) and (
                run["kbert"]["data"] != run["reference"]["data"]):
            run["warning"] = "the two sides read different examples"
        runs.append(run)
    result = {"task": FLAGS.task, "metric": task.metric,
              "recipe": {k: v for k, v in args.items() if k not in ("checkpoint",)},
              "runs": runs, "mean": summarize(task, runs)}
    print(json.dumps(result["mean"]), flush=True)
    if FLAGS.output:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
        temporary = FLAGS.output + ".tmp"
        with open(temporary, "w") as handle:
            json.dump(result, handle, indent=1)
        os.replace(temporary, FLAGS.output)


def define_flags():
    from absl import flags

    flags.DEFINE_enum("task", "ner", sorted(TASKS), "Which task to compare.")
    flags.DEFINE_list("seeds", ["0"], "Seeds; each runs both sides.")
    flags.DEFINE_list("sides", ["kbert", "reference"], "Which sides to run.")
    flags.DEFINE_string("preset", "minilm_l6_uncased", "kbert preset; the reference loads the "
                        "Hugging Face directory it resolves to.")
    flags.DEFINE_string("reference_python", None, "Python of the reference side (a virtualenv "
                        "with torch and transformers); default: this one.")
    flags.DEFINE_string("train_file", None, "Training file (default: the task's).")
    flags.DEFINE_string("eval_file", None, "Evaluation file (default: the task's).")
    flags.DEFINE_integer("train_examples", None, "First N training rows (default: the task's).")
    flags.DEFINE_integer("eval_examples", None, "First N evaluation rows (default: all).")
    flags.DEFINE_integer("epochs", None, "Epochs (default: the task's).")
    flags.DEFINE_float("learning_rate", None, "Peak learning rate (default: the task's).")
    flags.DEFINE_integer("sequence_length", None, "Maximum length (default: the task's).")
    flags.DEFINE_integer("batch_size", 32, "Batch size.")
    flags.DEFINE_float("epsilon", 1e-8, "The reference AdamW's epsilon (PyTorch's default).")
    flags.DEFINE_integer("threads", None, "Threads per side (default: all cores).")
    flags.DEFINE_string("kbert_options", None, "JSON: ablations of kbert's side (see the "
                        "module docstring).")
    flags.DEFINE_string("output", None, "JSON file for the results.")
    flags.DEFINE_string("scores_dir", None, "Folder where kbert's side writes its per-word "
                        "probabilities on the evaluation set (tagging tasks).")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        side, arguments = sys.argv[2], json.loads(sys.argv[3])
        worker = getattr(TASKS[arguments["task"]], side)
        print(json.dumps(worker(arguments)))
    else:
        from absl import app

        define_flags()
        app.run(main)
