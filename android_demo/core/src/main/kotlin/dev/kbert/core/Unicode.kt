package dev.kbert.core

import java.text.Normalizer

/**
 * The character classes and the case folding of kbert's tokenizer (KerasHub's WordPieceTokenizer
 * on TensorFlow: RE2 patterns, `tf_text.normalize_utf8`, `tf_text.case_fold_utf8`), and of
 * Python's `re` as `kbert.preprocessing.words.split_words` uses it. Everything works on code
 * points, as RE2 and Python do, never on UTF-16 units.
 */
internal object Unicode {
    /** Delimiters that are dropped: RE2's `\s` (ASCII only), control (Cc) and format (Cf). */
    fun isSpaceOrControl(cp: Int): Boolean {
        if (cp == 0x20 || cp == 0x09 || cp == 0x0A || cp == 0x0C || cp == 0x0D) return true
        val type = Character.getType(cp)
        return type == Character.CONTROL.toInt() || type == Character.FORMAT.toInt()
    }

    /** Delimiters that are kept as tokens: ASCII symbols and Unicode punctuation (P*). */
    fun isPunctuation(cp: Int): Boolean {
        if (cp in 0x21..0x2F || cp in 0x3A..0x40 || cp in 0x5B..0x60 || cp in 0x7B..0x7E) return true
        return when (Character.getType(cp).toByte()) {
            Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION,
            Character.START_PUNCTUATION, Character.END_PUNCTUATION,
            Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
            Character.OTHER_PUNCTUATION -> true
            else -> false
        }
    }

    /** CJK ideographs, each its own token (the ranges of BERT's `_is_chinese_char`). */
    fun isCjk(cp: Int): Boolean =
        cp in 0x4E00..0x9FFF || cp in 0x3400..0x4DBF || cp in 0x20000..0x2A6DF ||
            cp in 0x2A700..0x2B73F || cp in 0x2B740..0x2B81F || cp in 0x2B820..0x2CEAF ||
            cp in 0xF900..0xFAFF || cp in 0x2F800..0x2FA1F

    /** Python's `str.isspace()`, i.e. `\s` in a `re` str pattern. */
    fun isPythonSpace(cp: Int): Boolean =
        cp in 0x09..0x0D || cp in 0x1C..0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
            cp in 0x2000..0x200A || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
            cp == 0x205F || cp == 0x3000

    /** Python's `\w` in a `re` str pattern: letters (L*), numbers (N*) and the underscore. */
    fun isPythonWord(cp: Int): Boolean {
        if (cp == 0x5F) return true  // _
        return when (Character.getType(cp).toByte()) {
            Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
            Character.MODIFIER_LETTER, Character.OTHER_LETTER, Character.DECIMAL_DIGIT_NUMBER,
            Character.LETTER_NUMBER, Character.OTHER_NUMBER -> true
            else -> false
        }
    }

    /** NFD, then without non-spacing marks (Mn): KerasHub's `strip_accents`. */
    fun stripAccents(text: String): String {
        val decomposed = Normalizer.normalize(text, Normalizer.Form.NFD)
        val out = StringBuilder(decomposed.length)
        forEachCodePoint(decomposed) { cp ->
            if (Character.getType(cp) != Character.NON_SPACING_MARK.toInt()) out.appendCodePoint(cp)
        }
        return out.toString()
    }

    /**
     * Unicode NFKC_Casefold, as `tf_text.case_fold_utf8`: NFKC, full case folding, NFKC again,
     * without default-ignorable code points. So "ﬁ" -> "fi", "ß" -> "ss", "Ａ" -> "a", and a
     * no-break space becomes a plain space (inside the word: the split has already happened).
     */
    fun caseFold(text: String): String {
        val folded = StringBuilder(text.length)
        forEachCodePoint(Normalizer.normalize(text, Normalizer.Form.NFKC)) { folded.append(foldCodePoint(it)) }
        val out = StringBuilder(folded.length)
        forEachCodePoint(Normalizer.normalize(folded, Normalizer.Form.NFKC)) { cp ->
            if (!isDefaultIgnorable(cp)) out.appendCodePoint(cp)
        }
        return out.toString()
    }

    /**
     * Full case folding (CaseFolding.txt, statuses C and F) of one code point. Lower(upper(c))
     * is the simple folding for all but a few letters, which are handled first.
     */
    private fun foldCodePoint(cp: Int): String {
        when {
            cp == 0xDF || cp == 0x1E9E -> return "ss"          // ß, ẞ
            cp == 0x130 -> return "i\u0307"                     // İ: i + combining dot above
            cp == 0x131 -> return "\u0131"                      // ı folds to itself, not to i
            cp in 0x13F8..0x13FD -> return codePointString(cp - 8)           // Cherokee folds
            cp in 0xAB70..0xABBF -> return codePointString(cp - 0xAB70 + 0x13A0)  // to capitals.
            cp in 0x13A0..0x13F5 -> return codePointString(cp)
        }
        val decomposed = Normalizer.normalize(codePointString(cp), Normalizer.Form.NFD)
        if (decomposed.length > 1 && decomposed.indexOf('\u0345') >= 0) {
            // Greek letters with iota subscript fold to the letter followed by a full iota.
            val base = Normalizer.normalize(decomposed.replace("\u0345", ""), Normalizer.Form.NFC)
            return foldCodePoints(base) + "\u03B9"
        }
        return codePointString(Character.toLowerCase(Character.toUpperCase(cp)))
    }

    private fun foldCodePoints(text: String): String {
        val out = StringBuilder()
        forEachCodePoint(text) { out.append(foldCodePoint(it)) }
        return out.toString()
    }

    /** Default_Ignorable_Code_Point, the ranges `case_fold_utf8` drops. */
    private fun isDefaultIgnorable(cp: Int): Boolean =
        cp == 0x00AD || cp == 0x034F || cp == 0x061C || cp in 0x115F..0x1160 ||
            cp in 0x17B4..0x17B5 || cp in 0x180B..0x180F || cp in 0x200B..0x200F ||
            cp in 0x202A..0x202E || cp in 0x2060..0x206F || cp == 0x3164 ||
            cp in 0xFE00..0xFE0F || cp == 0xFEFF || cp == 0xFFA0 || cp in 0xFFF0..0xFFF8 ||
            cp in 0x1BCA0..0x1BCA3 || cp in 0x1D173..0x1D17A || cp in 0xE0000..0xE0FFF

    fun codePointString(cp: Int): String = String(Character.toChars(cp))

    inline fun forEachCodePoint(text: CharSequence, action: (Int) -> Unit) {
        var i = 0
        while (i < text.length) {
            val cp = Character.codePointAt(text, i)
            action(cp)
            i += Character.charCount(cp)
        }
    }
}
