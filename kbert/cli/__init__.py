r"""kbert's absl-flag programs, installed with the package as console commands and runnable as
modules; the repository's scripts/ are one-line shims over these.

  kbert-quickstart          python -m kbert.cli.quickstart         the offline main job
  kbert-train-classifier    python -m kbert.cli.train_classifier   classification, regression
  kbert-train-tagger        python -m kbert.cli.train_tagger       NER, POS
  kbert-train-qa            python -m kbert.cli.train_qa           SQuAD v1.1 / v2.0
  kbert-export-model        python -m kbert.cli.export_model       SavedModel, TFLite, report
  kbert-extract-features    python -m kbert.cli.extract_features   sentence embeddings
  kbert-pretrain-mlm        python -m kbert.cli.pretrain_mlm       masked-LM domain adaptation
  kbert-distill             python -m kbert.cli.distill            a smaller student of a model

Each program's flags: `kbert-train-classifier --helpfull`. Nothing in the library imports this
package (programs over the library, never the reverse).

Example:
>>> # kbert-train-classifier --train_file=train.tsv --text_column=sentence \\
>>> #     --label_column=label --model_dir=runs/sst2
"""
