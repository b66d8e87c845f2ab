"""The official SQuAD v1.1 and v2.0 evaluation, as TF Model Garden ships it
(tf-models-official 2.20.0, `official/nlp/tools/squad_evaluate_v1_1.py` and
`squad_evaluate_v2_0.py`, Apache 2.0), copied unchanged: kbert's SQuAD scores are computed by
the same code as the published ones, without installing the Model Garden, whose
tensorflow-model-optimization dependency pins absl-py~=1.2 or numpy<2 (and so cannot share an
environment with mediapipe, which pins absl-py~=2.3, or with numpy 2).

Example:
>>> from kbert.training.official_squad import v1_1
>>> v1_1.evaluate(dataset, {"56be4db0acb8001400a502ec": "Denver Broncos"})["final_f1"]
1.0
"""
