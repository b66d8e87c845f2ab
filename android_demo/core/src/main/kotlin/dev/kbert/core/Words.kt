package dev.kbert.core

/** A word of a text and where it is: `text.substring(start, end)` (UTF-16 indices). */
data class Word(val text: String, val start: Int, val end: Int)

/**
 * The words of a raw text as `kbert.preprocessing.words.split_words` finds them (Python
 * `re.finditer(r"\w+|[^\w\s]", text)`): runs of letters, digits and underscores, and every other
 * non-space character on its own. Combining marks are not `\w`, so "é" written as e + U+0301
 * gives the words "e" and "\u0301".
 *
 *     splitWords("Jeremy lives in Paris.").map { it.text }   // [Jeremy, lives, in, Paris, .]
 */
fun splitWords(text: String): List<Word> {
    val words = ArrayList<Word>()
    var i = 0
    while (i < text.length) {
        val cp = Character.codePointAt(text, i)
        val next = i + Character.charCount(cp)
        when {
            Unicode.isPythonSpace(cp) -> i = next
            Unicode.isPythonWord(cp) -> {
                var end = next
                while (end < text.length) {
                    val c = Character.codePointAt(text, end)
                    if (!Unicode.isPythonWord(c)) break
                    end += Character.charCount(c)
                }
                words.add(Word(text.substring(i, end), i, end))
                i = end
            }
            else -> {
                words.add(Word(text.substring(i, next), i, next))
                i = next
            }
        }
    }
    return words
}

/**
 * The words of a raw text as a tokenizer with the checkpoint's normalization splits it
 * (`kbert.preprocessing.tokenizer.Normalization.words_with_spans`), as slices of the original
 * text: each code point is normalized on its own and read as space, punctuation or word
 * characters; a word runs from its first to its last contributing code point (dropped ones
 * between stay inside it), and a code point whose normalized form holds several words stays one
 * word. So a QA answer keeps its accents and exact offsets.
 *
 *     splitWords("Frédéric\u200b日本", BertNormalizer()).map { it.text }   // [Frédéric, 日, 本]
 */
fun splitWords(text: String, normalizer: BertNormalizer): List<Word> {
    val spans = ArrayList<IntArray>()
    fun add(start: Int, end: Int) {
        val last = spans.lastOrNull()
        if (last != null && start < last[1]) last[1] = Math.max(end, last[1]) else spans.add(intArrayOf(start, end))
    }
    var wordStart = -1
    var wordEnd = -1
    var i = 0
    while (i < text.length) {
        val cp = Character.codePointAt(text, i)
        val next = i + Character.charCount(cp)
        Unicode.forEachCodePoint(normalizer.normalize(Unicode.codePointString(cp))) { out ->
            val space = BertNormalizer.isWhitespace(out)
            val punct = !space && Unicode.isPunctuation(out)
            if (!space && !punct) {
                if (wordStart < 0) wordStart = i
                wordEnd = next
            } else {
                if (wordStart >= 0) add(wordStart, wordEnd)
                wordStart = -1
                if (punct) add(i, next)
            }
        }
        i = next
    }
    if (wordStart >= 0) add(wordStart, wordEnd)
    return spans.map { Word(text.substring(it[0], it[1]), it[0], it[1]) }
}
