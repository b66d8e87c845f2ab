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
