package dev.kbert.demo

import android.content.Context
import dev.kbert.core.Answer
import dev.kbert.core.BertTokenizer
import dev.kbert.core.ModelSettings
import dev.kbert.core.QaPacker
import dev.kbert.core.QaSettings
import dev.kbert.core.SpanDecoder
import dev.kbert.core.Vocabulary
import java.io.Closeable
import java.nio.MappedByteBuffer
import org.tensorflow.lite.Interpreter

/**
 * kbert's exported question answerer on the LiteRT interpreter, with the core module doing what
 * kbert does around the model (kbert.export.OnDeviceQuestionAnswerer is the same pipeline in
 * Python): tokenize and pack the question and passage into windows, run each window, decode the
 * best span over all windows.
 *
 * The model's inputs are `ids`, `mask`, `segment_ids` (int32 [1, L]); its outputs
 * `start_logits` and `end_logits` (float32 [1, L]). Its vocabulary and its settings are packed
 * in the file: `kbert.json` has the window length L, casing, doc stride, question length, n-best
 * size, answer length and (SQuAD v2.0) null threshold, as kbert.export.OnDeviceQuestionAnswerer
 * .from_file reads them; `configure` may override them (e.g. `{ it.copy(docStride = 64) }`).
 */
class QuestionAnswerer(
    model: MappedByteBuffer,
    configure: (QaSettings) -> QaSettings = { it }
) : Closeable {
    private val interpreter = Interpreter(model, Interpreter.Options().setNumThreads(2))
    val settings: QaSettings
    private val sequenceLength: Int
    private val vocabulary: Vocabulary
    private val packer: QaPacker
    private val decoder: SpanDecoder

    init {
        val files = ModelAssets.packedFiles(model)
        val vocab = files["vocab.txt"]
            ?: throw IllegalArgumentException("the model has no packed vocab.txt: export it with kbert's metadata")
        settings = configure(ModelSettings.fromPackedFiles(files).questionAnswering())
        sequenceLength = settings.sequenceLength
        vocabulary = Vocabulary.fromLines(String(vocab, Charsets.UTF_8).lines().dropLastWhile { it.isEmpty() })
        packer = QaPacker(BertTokenizer(vocabulary, settings.lowercase), settings)
        decoder = SpanDecoder(settings)
    }

    /** The best answer to `question` in `passage`; its text is "" when there is none. */
    fun answer(question: String, passage: String): Answer {
        val input = packer.pack(question, passage)
        val starts = ArrayList<FloatArray>()
        val ends = ArrayList<FloatArray>()
        for (window in input.windows) {
            val padded = window.padded(sequenceLength, vocabulary.padId)
            val start = arrayOf(FloatArray(sequenceLength))
            val end = arrayOf(FloatArray(sequenceLength))
            interpreter.runSignature(
                mapOf("ids" to arrayOf(padded.ids), "mask" to arrayOf(padded.mask),
                      "segment_ids" to arrayOf(padded.segmentIds)),
                mapOf("start_logits" to start, "end_logits" to end))
            starts.add(start[0])
            ends.add(end[0])
        }
        val answer = decoder.decode(input, starts, ends)
        // "" when a SQuAD v2.0 model's null score beats the span by more than its null threshold.
        return if (decoder.finalText(answer).isEmpty()) answer.copy(text = "") else answer
    }

    override fun close() = interpreter.close()

    companion object {
        fun fromAsset(context: Context, name: String): QuestionAnswerer =
            QuestionAnswerer(ModelAssets.map(context, name))
    }
}
