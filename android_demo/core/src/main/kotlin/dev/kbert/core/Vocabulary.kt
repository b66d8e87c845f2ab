package dev.kbert.core

/**
 * A WordPiece vocabulary: token i on line i of `vocab.txt` (the file kbert packs into every
 * exported .tflite and that the KerasHub tokenizer was built from).
 *
 *     val vocab = Vocabulary.fromLines(File("vocab.txt").readLines())
 *     vocab.id("[CLS]")  // 101 for the uncased BERT/MiniLM vocabulary
 */
class Vocabulary(val tokens: List<String>) {
    private val ids: Map<String, Int>

    init {
        val map = HashMap<String, Int>(tokens.size * 2)
        // A repeated token keeps its last id, like KerasHub's token_to_id map.
        for ((i, token) in tokens.withIndex()) map[token] = i
        ids = map
    }

    val size: Int get() = tokens.size

    /** The id of `token`, or null when it is not in the vocabulary. */
    fun idOrNull(token: String): Int? = ids[token]

    fun id(token: String): Int =
        ids[token] ?: throw IllegalArgumentException("'$token' is not in the vocabulary")

    fun token(id: Int): String = tokens[id]

    val unkId: Int get() = id(UNK)
    val clsId: Int get() = id(CLS)
    val sepId: Int get() = id(SEP)
    val padId: Int get() = id(PAD)

    companion object {
        const val UNK = "[UNK]"
        const val CLS = "[CLS]"
        const val SEP = "[SEP]"
        const val PAD = "[PAD]"

        /** Lines of vocab.txt; trailing whitespace is dropped as KerasHub does (`line.rstrip()`). */
        fun fromLines(lines: List<String>): Vocabulary =
            Vocabulary(lines.map { it.trimEnd() })
    }
}
