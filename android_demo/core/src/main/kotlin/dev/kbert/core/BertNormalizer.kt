package dev.kbert.core

import java.text.Normalizer
import java.util.Locale

/**
 * The text normalization a BERT checkpoint was pretrained with: Hugging Face's `BertNormalizer`
 * (the `tokenizers` crate, which the checkpoint's own tokenizer.json names), step by step:
 *
 * 1. `cleanText`: drop NUL, U+FFFD and every control (Cc), format (Cf) or private-use (Co) code
 *    point except tab, line feed and carriage return (so form feed, vertical tab and U+0085 are
 *    dropped, not spaces); every other White_Space code point becomes " ".
 * 2. `handleChineseChars`: a space on each side of every CJK ideograph ([isChineseChar]).
 * 3. `stripAccents` (when unset in the checkpoint it follows `lowercase`): NFD, then drop the
 *    non-spacing marks (Mn). So "Café" -> "Cafe", and Hangul syllables become their jamo.
 * 4. `lowercase`: each code point's Unicode lowercase (not NFKC case folding: "ﬁ", "ß" and
 *    full-width "，" stay as they are).
 *
 *     val normalizer = BertNormalizer(lowercase = true)        // an uncased checkpoint
 *     normalizer.normalize("Le Café, à Montréal")              // "le cafe, a montreal"
 *
 * Apps that hand text to MediaPipe's BERT tokenizer (which only lowercases) normalize it with this
 * first, so the model sees the tokens it was trained on; [BertTokenizer] applies it itself.
 */
data class BertNormalizer(
    val lowercase: Boolean = true,
    val stripAccents: Boolean = lowercase,
    val handleChineseChars: Boolean = true,
    val cleanText: Boolean = true
) {
    /** The settings in one line, `lowercase=true strip_accents=true ...` (what the goldens record). */
    fun describe(): String =
        "lowercase=$lowercase strip_accents=$stripAccents chinese_chars=$handleChineseChars clean_text=$cleanText"

    fun normalize(text: String): String {
        val out = StringBuilder(text.length + 8)
        Unicode.forEachCodePoint(text) { cp ->
            when {
                cleanText && (cp == 0 || cp == 0xFFFD || isControl(cp)) -> Unit
                cleanText && isWhitespace(cp) -> out.append(' ')
                handleChineseChars && isChineseChar(cp) -> out.append(' ').appendCodePoint(cp).append(' ')
                else -> out.appendCodePoint(cp)
            }
        }
        var result = out.toString()
        if (stripAccents) result = Unicode.stripAccents(result)
        if (lowercase) {
            // Code point by code point, as the reference does: no final-sigma context rule.
            val lower = StringBuilder(result.length)
            Unicode.forEachCodePoint(result) { cp ->
                lower.append(Unicode.codePointString(cp).toLowerCase(Locale.ROOT))
            }
            result = lower.toString()
        }
        return result
    }

    companion object {
        /** Unicode's White_Space property (Rust's `char::is_whitespace`). */
        fun isWhitespace(cp: Int): Boolean =
            cp in 0x09..0x0D || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
                cp in 0x2000..0x200A || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
                cp == 0x205F || cp == 0x3000

        /** Control (Cc), format (Cf) and private-use (Co), but for tab, line feed and return. */
        fun isControl(cp: Int): Boolean {
            if (cp == 0x09 || cp == 0x0A || cp == 0x0D) return false
            return when (Character.getType(cp).toByte()) {
                Character.CONTROL, Character.FORMAT, Character.PRIVATE_USE -> true
                else -> false
            }
        }

        /**
         * The `tokenizers` crate's CJK ranges: BERT's `_is_chinese_char`, except that its
         * extension-E range starts at U+2B920 (BERT's Python: U+2B820).
         */
        fun isChineseChar(cp: Int): Boolean =
            cp in 0x4E00..0x9FFF || cp in 0x3400..0x4DBF || cp in 0x20000..0x2A6DF ||
                cp in 0x2A700..0x2B73F || cp in 0x2B740..0x2B81F || cp in 0x2B920..0x2CEAF ||
                cp in 0xF900..0xFAFF || cp in 0x2F800..0x2FA1F
    }
}
