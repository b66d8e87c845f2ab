package dev.kbert.core

/**
 * One model input of extractive QA: `[CLS] question [SEP] context part [SEP]`, unpadded.
 *
 * @property ids token ids; @property segmentIds 0 up to the first [SEP], then 1
 * @property contextOffset position of the first context token
 * @property tokenWord the context word (index into [QaInput.words]) of each context token
 * @property maxContext whether this window is the one where that token has the most context
 */
class QaWindow(
    val ids: IntArray,
    val segmentIds: IntArray,
    val contextOffset: Int,
    val tokenWord: IntArray,
    val maxContext: BooleanArray
) {
    /** The interpreter's three int32 [1, L] inputs, padded with `padId` (mask 1 on tokens). */
    fun padded(sequenceLength: Int, padId: Int = 0): PaddedInput {
        require(ids.size <= sequenceLength) { "window of ${ids.size} tokens > $sequenceLength" }
        val paddedIds = IntArray(sequenceLength) { if (it < ids.size) ids[it] else padId }
        val mask = IntArray(sequenceLength) { if (it < ids.size) 1 else 0 }
        val segments = IntArray(sequenceLength) { if (it < ids.size) segmentIds[it] else 0 }
        return PaddedInput(paddedIds, mask, segments)
    }
}

class PaddedInput(val ids: IntArray, val mask: IntArray, val segmentIds: IntArray)

/** A question over one context, cut into windows. */
class QaInput(val question: String, val context: String, val words: List<Word>,
              val windows: List<QaWindow>)

/**
 * Packs questions and contexts into windows exactly as `kbert.preprocessing.qa.qa_windows`
 * (BERT's SQuAD recipe): the question keeps its first [maxQueryLength] tokens; the context is
 * split into words ([splitWords]: the tokenizer's own split when it normalizes), each word
 * WordPiece'd (one [UNK] if it yields none), and the
 * context tokens are cut into windows of at most [sequenceLength] tokens that start [docStride]
 * tokens apart.
 *
 *     val packer = QaPacker(tokenizer)          // 384, stride 128, query 64: kbert's defaults
 *     val input = packer.pack("Who lives in Paris?", "Jeremy lives in Paris.")
 *     input.windows[0].padded(384)             // feed to the interpreter
 *     QaPacker(tokenizer, ModelSettings.fromModel(modelBytes).questionAnswering())  // the file's
 */
class QaPacker(
    val tokenizer: BertTokenizer,
    val sequenceLength: Int = 384,
    val docStride: Int = 128,
    val maxQueryLength: Int = 64
) {
    /** With the window length, stride and question length a model file's kbert.json has. */
    constructor(tokenizer: BertTokenizer, settings: QaSettings) :
        this(tokenizer, settings.sequenceLength, settings.docStride, settings.maxQueryLength)

    fun pack(question: String, context: String): QaInput {
        val vocabulary = tokenizer.vocabulary
        val query = tokenizer.tokenize(question).take(maxQueryLength)
        val words = tokenizer.normalizer?.let { splitWords(context, it) } ?: splitWords(context)
        val doc = ArrayList<Int>()
        val docWord = ArrayList<Int>()
        for ((w, word) in words.withIndex()) {
            // A word that yields no piece (a lone control or zero-width character) is one
            // [UNK], as in kbert (kbert.preprocessing.words.word_pieces): every word has a token.
            val pieces = tokenizer.tokenize(word.text)
            for (id in if (pieces.isEmpty()) intArrayOf(vocabulary.unkId) else pieces) {
                doc.add(id)
                docWord.add(w)
            }
        }
        val budget = sequenceLength - query.size - 3
        require(budget >= 1) {
            "sequenceLength=$sequenceLength leaves no room for the context after a " +
                "${query.size}-token question; lower maxQueryLength."
        }
        val starts = windowStarts(doc.size, budget)
        val best = maxContextWindow(starts, doc.size, budget)
        val contextOffset = query.size + 2
        val windows = starts.mapIndexed { w, start ->
            val end = Math.min(start + budget, doc.size)
            val ids = ArrayList<Int>(contextOffset + end - start + 1)
            ids.add(vocabulary.clsId)
            ids.addAll(query)
            ids.add(vocabulary.sepId)
            ids.addAll(doc.subList(start, end))
            ids.add(vocabulary.sepId)
            QaWindow(
                ids = ids.toIntArray(),
                segmentIds = IntArray(ids.size) { if (it < contextOffset) 0 else 1 },
                contextOffset = contextOffset,
                tokenWord = docWord.subList(start, end).toIntArray(),
                maxContext = BooleanArray(end - start) { best[start + it] == w })
        }
        return QaInput(question, context, words, windows)
    }

    /** Window starts over the context tokens: `docStride` apart until the end is covered. */
    private fun windowStarts(docLength: Int, budget: Int): List<Int> {
        val starts = ArrayList<Int>()
        var start = 0
        while (true) {
            starts.add(start)
            if (start + budget >= docLength) return starts
            start += Math.min(docStride, budget)
        }
    }

    /**
     * For each context token, the window where it has the most context on both sides (BERT's
     * `_check_is_max_context`, with its small bonus for longer windows); ties keep the first.
     */
    private fun maxContextWindow(starts: List<Int>, docLength: Int, budget: Int): IntArray {
        val best = IntArray(docLength)
        val bestScore = DoubleArray(docLength) { Double.NEGATIVE_INFINITY }
        for ((w, start) in starts.withIndex()) {
            val end = Math.min(start + budget, docLength)
            for (p in start until end) {
                val score = Math.min(p - start, end - 1 - p).toDouble() + 0.01 * (end - start)
                if (score > bestScore[p]) {
                    bestScore[p] = score
                    best[p] = w
                }
            }
        }
        return best
    }
}

/**
 * The best span of a context: its text and characters [start, end) (UTF-16 indices), its
 * probability among the n-best spans, and how much the "no answer" score beats it.
 */
data class Answer(val text: String, val start: Int, val end: Int, val score: Double,
                  val nullScoreDiff: Double)

/**
 * Start/end logits of every window to one answer, as `kbert.tasks.qa_decoding.decode_answers`:
 * per window, the [nBest] highest start and end logits over context tokens are paired; a span
 * counts if it ends at or after its start, is at most [maxAnswerLength] tokens, and its start
 * token has its maximal context in this window. The null score is the smallest [CLS] start +
 * end over the windows. Sums are taken in float32, as numpy does on the model's outputs.
 */
class SpanDecoder(val nBest: Int = 20, val maxAnswerLength: Int = 30,
                  val nullThreshold: Double? = null) {
    /** With the n-best size, answer length and null threshold a model file's kbert.json has. */
    constructor(settings: QaSettings) : this(settings.nBest, settings.maxAnswerLength, settings.nullThreshold)

    /** `startLogits[w]` and `endLogits[w]` are window w's outputs (length >= its token count). */
    fun decode(input: QaInput, startLogits: List<FloatArray>, endLogits: List<FloatArray>): Answer {
        var bestScore = Double.NEGATIVE_INFINITY
        var bestStartWord = -1
        var bestEndWord = -1
        var nullScore = Double.POSITIVE_INFINITY
        val scores = ArrayList<Double>()
        for ((w, window) in input.windows.withIndex()) {
            val start = startLogits[w]
            val end = endLogits[w]
            nullScore = Math.min(nullScore, (start[0] + end[0]).toDouble())
            val n = window.tokenWord.size
            if (n == 0) continue
            val offset = window.contextOffset
            val contextStart = start.copyOfRange(offset, offset + n)
            val contextEnd = end.copyOfRange(offset, offset + n)
            for (i in topIndices(contextStart)) {
                if (!window.maxContext[i]) continue
                for (j in topIndices(contextEnd)) {
                    if (j < i || j - i + 1 > maxAnswerLength) continue
                    val score = (contextStart[i] + contextEnd[j]).toDouble()
                    scores.add(score)
                    if (score > bestScore) {
                        bestScore = score
                        bestStartWord = window.tokenWord[i]
                        bestEndWord = window.tokenWord[j]
                    }
                }
            }
        }
        if (bestStartWord < 0) return Answer("", 0, 0, 0.0, Double.POSITIVE_INFINITY)
        val startChar = input.words[bestStartWord].start
        val endChar = input.words[bestEndWord].end
        // Softmax probability of the best span among the n best scores.
        val top = scores.sortedDescending().take(nBest)
        var sum = 0.0
        for (s in top) sum += Math.exp(s - bestScore)
        return Answer(input.context.substring(startChar, endChar), startChar, endChar, 1.0 / sum,
                      nullScore - bestScore)
    }

    /**
     * Indices of the [nBest] largest values, largest first (`np.argsort(x)[::-1][:n]`); equal
     * values in the later index first, as a stable ascending sort read backwards gives them.
     */
    private fun topIndices(values: FloatArray): List<Int> =
        values.indices.sortedWith(Comparator { a, b ->
            val byValue = values[b].compareTo(values[a])
            if (byValue != 0) byValue else b.compareTo(a)
        }).take(nBest)

    /** "" when a model trained with unanswerable questions prefers no answer (kbert's rule). */
    fun finalText(answer: Answer, nullThreshold: Double?): String =
        if (nullThreshold != null && answer.nullScoreDiff > nullThreshold) "" else answer.text

    /** [finalText] with this decoder's [nullThreshold] (the model file's, from [QaSettings]). */
    fun finalText(answer: Answer): String = finalText(answer, nullThreshold)
}
