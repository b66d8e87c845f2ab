"""A LoRA model exports merged (Task.merged): every TFLite precision and the SavedModel work, the
.tflite has the ops and size of a fully fine-tuned model's, and verify agrees with Keras."""

import pytest

import kbert
from kbert import export
from kbert.tasks import lora
from tests.conftest import one_layer_task

TEXTS = ["the film was great", "a dull book", "i loved it", "really bad food",
         "the man plays with a dog and the cat sleeps in paris"]
LABELS = ["pos", "neg", "pos", "neg", "pos"]


def fitted(finetuning):
    model = one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])
    if finetuning == "lora":
        model.set_finetuning("lora", rank=4)
    model.fit(TEXTS, LABELS, epochs=2, batch_size=4, seed=0, verbose=0)
    return model


@pytest.fixture(scope="module")
def models():
    return {"lora": fitted("lora"), "full": fitted("full"),
            "untrained": one_layer_task(kbert.TextClassifier, labels=["neg", "pos"])}


# float32, and int8, whose calibration runs the merged model too. The other precisions are
# converter settings on the same merged graph (every precision x task: test_every_task_exports).
@pytest.mark.parametrize("quantization", [None, "int8"])
def test_a_lora_export_is_a_plain_file_that_agrees_with_keras(models, quantization, tmp_path):
    infos = {name: export.to_tflite(model, tmp_path / f"{name}.tflite", quantization=quantization,
                                    representative_data=TEXTS)
             for name, model in models.items()}
    assert infos["lora"]["ops"] == infos["full"]["ops"] == infos["untrained"]["ops"]
    # Plain kernels, no adapter left. The converter stores equal constants once, and this random
    # encoder's biases start at zero: those LoRA leaves frozen stay equal, so the LoRA file is
    # the size of the untrained one, a few percent under the fully fine-tuned one's.
    size = {name: info["bytes"] for name, info in infos.items()}
    assert abs(size["lora"] - size["untrained"]) < 0.01 * size["untrained"]
    assert size["untrained"] * 0.99 < size["lora"] <= size["full"]
    report = export.verify(tmp_path / "lora.tflite", (TEXTS, LABELS), reference=models["lora"],
                           threads=(1,), latency_examples=2)
    assert report["agreement"] == 1.0
    if quantization is None:
        assert report["max_abs_difference"] < 1e-4


def test_a_lora_saved_model_serves_the_keras_outputs(models, tmp_path):
    model = models["lora"]
    export.to_saved_model(model, tmp_path / "sm")
    report = export.verify_saved_model(tmp_path / "sm", TEXTS, reference=model)
    assert report["max_abs_difference"] < 1e-5
    assert report["token_ids_max_abs_difference"] < 1e-5
    assert lora.adapted_layers(model.backbone)  # exporting left the model itself as it was
