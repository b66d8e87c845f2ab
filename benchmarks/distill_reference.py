"""The reference side of the distillation study (benchmarks/distill.py): the same teacher and
students written with Hugging Face transformers + PyTorch, on the same data, checkpoint and
recipe, so that kbert's gap between teacher and student can be read beside the field's.

  MINILM=$(python -c "import kbert; print(kbert.presets.resolve('minilm_l6_uncased'))")
  /work/refenv/bin/python -m benchmarks.distill_reference --task=sst2 --checkpoint=$MINILM \
      --student_epochs=3 --student_learning_rate=1e-4 --output=runs/distill/reference_sst2.json
  /work/refenv/bin/python -m benchmarks.distill_reference --task=conll --checkpoint=$MINILM \
      --student_epochs=3 --student_learning_rate=1e-4 --output=runs/distill/reference_conll.json

(From the repository root, as a module. Imports numpy, torch, transformers and seqeval, never
kbert or TensorFlow: it runs in a virtualenv of its own, as benchmarks/parity.py's reference.)

What a transformers user writes for task-specific distillation (Hinton et al. 2015; DistilBERT's
initialisation from a spread of the teacher's layers):
- the teacher: the pretrained checkpoint fine-tuned with benchmarks/reference.py's recipe and
  loop (Trainer's AdamW groups, 10% warm-up then linear decay, clipnorm 1.0), on the study's
  rows: SST-2's first 16,000 training sentences (64 tokens, 1 epoch) or CoNLL-2003's first 6,000
  sentences (128 tokens, 2 epochs), peak rate 5e-5, batch 32;
- the distilled student: a model of the same class with `num_hidden_layers=3`, its embeddings,
  the teacher's transformer layers [0, 2, 5] (kbert's `spread`), pooler and head copied from the
  teacher; trained with alpha x T² x KL(teacher || student, both softened at T) + (1 - alpha) x
  the labels' cross-entropy (for the tagger the KL at every real token, as kbert's
  `distillation_loss`), the teacher in eval mode (no dropout);
- the direct student: the pretrained checkpoint's layers [0, 2, 5] and a fresh head, trained on
  the labels alone with the same data, epochs, rate and seed.
The differences from kbert's side are the field's defaults, kept: transformers' classifier
reads the [CLS] token through BERT's pooler (kbert's study: mean pooling), and its tagger reads
sentences truncated at 128 tokens (kbert's: windows).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import types

import numpy as np

from benchmarks import parity, reference

DATA = "../shared/data"


def initialised_student(source, layers: list[int]):
    """A copy of `source` (a transformers BERT model with a head) keeping only the transformer
    layers `layers` (in order): embeddings, pooler and head as they are."""
    import torch

    student = copy.deepcopy(source)
    student.bert.encoder.layer = torch.nn.ModuleList(
        copy.deepcopy(source.bert.encoder.layer[i]) for i in layers)
    student.config.num_hidden_layers = len(layers)
    return student


def distillation_forward(student, teacher, temperature: float, alpha: float, per_token: bool):
    """A `forward` for benchmarks/reference.py's loop: the student's loss against the teacher's
    softened outputs and the labels, weighted alpha : 1 - alpha."""
    import torch
    import torch.nn.functional as F

    teacher.eval()

    def forward(**inputs):
        outputs = student(**inputs)  # .loss: the labels' cross-entropy (transformers' own)
        features = {k: v for k, v in inputs.items() if k != "labels"}
        with torch.no_grad():
            teacher_logits = teacher(**features).logits
        kl = F.kl_div(F.log_softmax(outputs.logits / temperature, -1),
                      F.log_softmax(teacher_logits / temperature, -1),
                      log_target=True, reduction="none").sum(-1)
        if per_token:
            mask = inputs["attention_mask"].to(kl.dtype)
            kl = (kl * mask).sum() / mask.sum()
        soft = kl.mean() * temperature ** 2
        return types.SimpleNamespace(loss=alpha * soft + (1 - alpha) * outputs.loss)

    return forward


def train_three(args, model_class, num_labels: int, batch_of, rows: int) -> dict:
    """{"teacher", "distilled", "direct"}: (trained model, seconds)."""
    import torch

    def fit(model, epochs, rate, forward=None):
        run = reference.fit(model, batch_of, rows, batch_size=32, epochs=epochs,
                            learning_rate=rate, seed=args.seed, forward=forward)
        return run["seconds"]

    torch.manual_seed(args.seed)
    pretrained = model_class.from_pretrained(args.checkpoint, num_labels=num_labels)
    teacher = copy.deepcopy(pretrained)
    models = {"teacher": (teacher, fit(teacher, args.teacher_epochs, 5e-5))}
    student = initialised_student(teacher, args.layers)
    forward = distillation_forward(student, teacher, args.temperature, args.alpha,
                                   per_token=args.task == "conll")
    rate = args.student_learning_rate
    models["distilled"] = (student, fit(student, args.student_epochs, rate, forward))
    direct = initialised_student(pretrained, args.layers)  # its head: the teacher's first draw
    models["direct"] = (direct, fit(direct, args.student_epochs, rate))
    return models


def sst2(args) -> dict:
    import torch
    import transformers

    columns = ("sentence", "label", None)
    texts, _, labels = parity.read_tsv(f"{args.data_dir}/glue/SST-2/train.tsv", *columns,
                                       args.train_examples or 16000)
    dev_texts, _, dev_labels = parity.read_tsv(f"{args.data_dir}/glue/SST-2/dev.tsv", *columns)
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.checkpoint)
    encode, predict = parity.sequence_io(tokenizer, args.sequence_length)

    def batch_of(rows):
        return {**encode(rows, texts, None),
                "labels": torch.tensor([int(labels[i]) for i in rows])}

    models = train_three(args, transformers.AutoModelForSequenceClassification, 2, batch_of,
                         len(texts))
    gold = np.array(dev_labels, int)
    top = {name: predict(model, dev_texts, None).argmax(-1) for name, (model, _) in
           models.items()}
    return {name: {"seconds": round(seconds, 1), "layers": model.config.num_hidden_layers,
                   "accuracy": 100 * float(np.mean(top[name] == gold)),
                   "agreement_with_teacher": 100 * float(np.mean(top[name] == top["teacher"]))}
            for name, (model, seconds) in models.items()}


def conll(args) -> dict:
    import transformers

    path = f"{args.data_dir}/conll2003"
    words, tags = parity.read_conll(f"{path}/train.txt", -1, args.train_examples or 6000)
    test_words, test_tags = parity.read_conll(f"{path}/valid.txt", -1)
    labels = sorted({t for s in tags for t in s})  # The study's: the training rows' tags.
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.checkpoint)
    encode, predict = parity.tagging_io(tokenizer, labels, args.sequence_length)

    def batch_of(rows):
        enc, targets = encode([words[i] for i in rows], [tags[i] for i in rows])
        return {**enc, "labels": targets}

    models = train_three(args, transformers.AutoModelForTokenClassification, len(labels),
                         batch_of, len(words))
    predicted = {name: predict(model, test_words)[0] for name, (model, _) in models.items()}
    flat = {name: [t for s in p for t in s] for name, p in predicted.items()}
    return {name: {"seconds": round(seconds, 1), "layers": model.config.num_hidden_layers,
                   **parity.tagging_scores(test_tags, predicted[name], labels),
                   "word_agreement_with_teacher": 100 * float(np.mean(
                       [a == b for a, b in zip(flat[name], flat["teacher"])]))}
            for name, (model, seconds) in models.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["sst2", "conll"], default="sst2")
    parser.add_argument("--checkpoint", required=True, help="The Hugging Face directory of "
                        "kbert's preset: kbert.presets.resolve('minilm_l6_uncased').")
    parser.add_argument("--data_dir", default=DATA)
    parser.add_argument("--train_examples", type=int, default=None)
    parser.add_argument("--sequence_length", type=int, default=None)
    parser.add_argument("--teacher_epochs", type=int, default=None, help="SST-2 1, CoNLL 2.")
    parser.add_argument("--student_epochs", type=int, default=2)
    parser.add_argument("--student_learning_rate", type=float, default=5e-5)
    parser.add_argument("--layers", type=lambda s: [int(i) for i in s.split(",")],
                        default=[0, 2, 5])
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    import torch
    import transformers

    args.teacher_epochs = args.teacher_epochs or (1 if args.task == "sst2" else 2)
    args.sequence_length = args.sequence_length or (64 if args.task == "sst2" else 128)
    torch.set_num_threads(args.threads)
    rows = {"sst2": sst2, "conll": conll}[args.task](args)
    result = {"task": args.task, "rows": rows,
              "recipe": {k: v for k, v in vars(args).items() if k != "output"},
              "framework": f"transformers {transformers.__version__} + "
                           f"PyTorch {torch.__version__}"}
    print(json.dumps(result, indent=1), flush=True)
    if args.output:
        with open(args.output + ".tmp", "w") as handle:
            json.dump(result, handle, indent=1)
        os.replace(args.output + ".tmp", args.output)


if __name__ == "__main__":
    main()
