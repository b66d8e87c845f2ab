package dev.kbert.demo

import android.content.Context
import dev.kbert.core.Answer
import dev.kbert.core.BertTokenizer
import dev.kbert.core.QaPacker
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
 * `start_logits` and `end_logits` (float32 [1, L]); its vocabulary is packed in the file.
 */
class QuestionAnswerer(model: MappedByteBuffer, lowercase: Boolean = true) : Closeable {
    private val interpreter = Interpreter(model, Interpreter.Options().setNumThreads(2))
    private val sequenceLength = interpreter.getInputTensor(0).shape()[1]
    private val vocabulary: Vocabulary
    private val packer: QaPacker
    // Null threshold: only for models trained on SQuAD v2.0 (kbert's model.null_threshold).
    private val decoder = SpanDecoder()
    private val nullThreshold: Double? = null

    init {
        val vocab = ModelAssets.packedText(model)["vocab.txt"]
            ?: throw IllegalArgumentException("the model has no packed vocab.txt: export it with kbert's metadata")
        vocabulary = Vocabulary.fromLines(vocab.dropLastWhile { it.isEmpty() })
        packer = QaPacker(BertTokenizer(vocabulary, lowercase), sequenceLength)
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
        return if (decoder.finalText(answer, nullThreshold).isEmpty()) answer.copy(text = "") else answer
    }

    override fun close() = interpreter.close()

    companion object {
        fun fromAsset(context: Context, name: String): QuestionAnswerer =
            QuestionAnswerer(ModelAssets.map(context, name))
    }
}
