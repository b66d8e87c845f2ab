package dev.kbert.demo

import android.content.Context
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.TensorBuffer
import dev.kbert.core.Answer
import dev.kbert.core.ModelSettings
import dev.kbert.core.QaPacker
import dev.kbert.core.QaSettings
import dev.kbert.core.SpanDecoder
import dev.kbert.core.Vocabulary
import java.io.Closeable

/**
 * kbert's exported question answerer on LiteRT 2.x's CompiledModel API, with the core module doing
 * what kbert does around the model (kbert.export.OnDeviceQuestionAnswerer is the same pipeline in
 * Python, on the same API): tokenize and pack the question and passage into windows, run each
 * window, decode the best span over all windows.
 *
 * The model's inputs are `ids`, `mask`, `segment_ids` (int32 [1, L]); its outputs
 * `start_logits` and `end_logits` (float32 [1, L]). Its vocabulary and its settings are packed
 * in the file: `kbert.json` has the window length L, casing, doc stride, question length, n-best
 * size, answer length and (SQuAD v2.0) null threshold, as kbert.export.OnDeviceQuestionAnswerer
 * .from_file reads them; `configure` may override them (e.g. `{ it.copy(docStride = 64) }`).
 *
 * The file must have static [1, L] inputs (`scripts/export_model.py --static_sequence_length=L`):
 * LiteRT's Kotlin CompiledModel (2.3) has no call that resizes an input, which a dynamic-length
 * file needs. For QA this costs nothing: a passage's windows are full (BENCHMARKS.md measured the
 * dynamic file at 1.06x the static one on SQuAD).
 */
class QuestionAnswerer(
    private val model: CompiledModel,
    files: Map<String, ByteArray>,
    configure: (QaSettings) -> QaSettings = { it }
) : Closeable {
    val settings: QaSettings
    private val sequenceLength: Int
    private val vocabulary: Vocabulary
    private val packer: QaPacker
    private val decoder: SpanDecoder
    // One buffer per named input and output, reused for every window.
    private val inputs: Map<String, TensorBuffer>
    private val outputs: Map<String, TensorBuffer>

    init {
        val vocab = files["vocab.txt"]
            ?: throw IllegalArgumentException("the model has no packed vocab.txt: export it with kbert's metadata")
        settings = configure(ModelSettings.fromPackedFiles(files).questionAnswering())
        sequenceLength = settings.sequenceLength
        val inputBytes = model.getInputBufferRequirements("ids").bufferSize
        require(inputBytes == 4 * sequenceLength) {
            "the model's ids input holds ${inputBytes / 4} tokens, not its window length " +
                "$sequenceLength: export it with static inputs (--static_sequence_length=$sequenceLength)"
        }
        vocabulary = Vocabulary.fromLines(String(vocab, Charsets.UTF_8).lines().dropLastWhile { it.isEmpty() })
        // The checkpoint's normalization, as kbert.json records it (null: a model from before it).
        packer = QaPacker(settings.tokenizer(vocabulary), settings)
        decoder = SpanDecoder(settings)
        inputs = listOf("ids", "mask", "segment_ids").associateWith { model.createInputBuffer(it) }
        outputs = listOf("start_logits", "end_logits").associateWith { model.createOutputBuffer(it) }
    }

    /** The best answer to `question` in `passage`; its text is "" when there is none. */
    fun answer(question: String, passage: String): Answer {
        val input = packer.pack(question, passage)
        val starts = ArrayList<FloatArray>()
        val ends = ArrayList<FloatArray>()
        for (window in input.windows) {
            val padded = window.padded(sequenceLength, vocabulary.padId)
            inputs.getValue("ids").writeInt(padded.ids)
            inputs.getValue("mask").writeInt(padded.mask)
            inputs.getValue("segment_ids").writeInt(padded.segmentIds)
            model.run(inputs, outputs)
            starts.add(outputs.getValue("start_logits").readFloat())
            ends.add(outputs.getValue("end_logits").readFloat())
        }
        val answer = decoder.decode(input, starts, ends)
        // "" when a SQuAD v2.0 model's null score beats the span by more than its null threshold.
        return if (decoder.finalText(answer).isEmpty()) answer.copy(text = "") else answer
    }

    override fun close() {
        (inputs.values + outputs.values).forEach { it.close() }
        model.close()
    }

    companion object {
        fun fromAsset(context: Context, name: String): QuestionAnswerer =
            QuestionAnswerer(
                CompiledModel.create(context.assets, name, CompiledModel.Options(Accelerator.CPU)),
                ModelAssets.packedFiles(ModelAssets.map(context, name)))
    }
}
