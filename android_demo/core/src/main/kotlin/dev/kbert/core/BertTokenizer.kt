package dev.kbert.core

/**
 * BERT's tokenizer exactly as kbert runs it: basic tokenization into words, then greedy
 * longest-match-first WordPiece on each word.
 *
 *     val tokenizer = BertTokenizer(Vocabulary.fromLines(vocabLines), normalizer = BertNormalizer())
 *     tokenizer.tokenize("A gripping film!")   // [1037, 13940, 2143, 999]
 *
 * With a [normalizer] (models kbert trains now: the checkpoint's own tokenization, which
 * kbert.json records as "normalization"):
 * 1. [BertNormalizer.normalize] the text (clean, CJK spacing, accents, lowercase).
 * 2. Split on White_Space (dropped) and on punctuation (ASCII symbols and Unicode P*, each kept
 *    as a word of its own).
 * 3. WordPiece each word; a word of more than [maxCharsPerWord] code points, or one with no full
 *    WordPiece cover, is one [UNK].
 *
 * Without one (models saved before kbert read the checkpoint's normalization: KerasHub's
 * `BertTokenizer` on TensorFlow), in KerasHub's order:
 * 0. The text ends at its first NUL character, as TensorFlow's `regex_split` reads it.
 * 1. `stripAccents` only: NFD, then drop non-spacing marks (off in those models, so "café"
 *    stays "café" and WordPiece makes it [UNK]).
 * 2. Split on ASCII whitespace, control and format characters (dropped) and on punctuation and
 *    CJK ideographs (each kept as a word of its own). Other spaces (no-break space, em space)
 *    do not split.
 * 3. `lowercase`: NFKC_Casefold each word (after the split, so a no-break space inside a word
 *    becomes a plain space that stays inside it).
 * 4. WordPiece each word; a word of more than [maxBytesPerWord] UTF-8 bytes, or one that has no
 *    full WordPiece cover, is one [UNK]; a word that folds to nothing gives no token.
 */
class BertTokenizer(
    val vocabulary: Vocabulary,
    val lowercase: Boolean = true,
    val stripAccents: Boolean = false,
    val maxBytesPerWord: Int = 100,
    val normalizer: BertNormalizer? = null,
    val maxCharsPerWord: Int = 100
) {
    private val unkId = vocabulary.unkId

    /** Token ids of `text`. */
    fun tokenize(text: String): IntArray {
        val ids = ArrayList<Int>()
        for (word in basicTokenize(text)) wordPiece(word, ids)
        return ids.toIntArray()
    }

    /** The words WordPiece sees (steps 1-3). */
    fun basicTokenize(text: String): List<String> {
        if (normalizer != null) {
            // Hugging Face's `BertPreTokenizer` on the normalized text.
            return split(normalizer.normalize(text), { BertNormalizer.isWhitespace(it) }, { Unicode.isPunctuation(it) })
        }
        val nul = text.indexOf('\u0000')
        val whole = if (nul >= 0) text.substring(0, nul) else text
        val source = if (stripAccents) Unicode.stripAccents(whole) else whole
        val words = split(source, { Unicode.isSpaceOrControl(it) }, { Unicode.isPunctuation(it) || Unicode.isCjk(it) })
        return if (lowercase) words.map { Unicode.caseFold(it) } else words
    }

    /** Words of `text`: split at `isSpace` code points (dropped), `isAlone` ones each a word. */
    private fun split(text: String, isSpace: (Int) -> Boolean, isAlone: (Int) -> Boolean): List<String> {
        val words = ArrayList<String>()
        val word = StringBuilder()
        fun flush() {
            if (word.isNotEmpty()) words.add(word.toString())
            word.setLength(0)
        }
        Unicode.forEachCodePoint(text) { cp ->
            when {
                isSpace(cp) -> flush()
                isAlone(cp) -> {
                    flush()
                    words.add(Unicode.codePointString(cp))
                }
                else -> word.appendCodePoint(cp)
            }
        }
        flush()
        return words
    }

    /** Appends the WordPiece ids of one word to `out`. */
    fun wordPiece(word: String, out: MutableList<Int>) {
        if (word.length == 0) return
        val tooLong = if (normalizer != null) word.codePointCount(0, word.length) > maxCharsPerWord
                      else word.toByteArray(Charsets.UTF_8).size > maxBytesPerWord
        if (tooLong) {
            out.add(unkId)
            return
        }
        val pieces = ArrayList<Int>()
        var start = 0
        while (start < word.length) {
            // The longest vocabulary entry at `start`; ends move back one code point at a time.
            var end = word.length
            var found: Int? = null
            while (end > start) {
                val piece = if (start > 0) "##" + word.substring(start, end) else word.substring(start, end)
                found = vocabulary.idOrNull(piece)
                if (found != null) break
                end = Character.offsetByCodePoints(word, end, -1)
            }
            if (found == null) {
                out.add(unkId)
                return
            }
            pieces.add(found)
            start = end
        }
        out.addAll(pieces)
    }
}
