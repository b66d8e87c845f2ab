package dev.kbert.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test

/** The core's rules on a handful of hand-made cases (the goldens cover kbert's real vocabulary). */
class CoreTest {
    private val vocabulary = Vocabulary.fromLines(listOf(
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "film", "gripping", "grip", "##ping", "##s",
        "a", "!", "paris", "lives", "in", "jeremy", "."))
    private val tokenizer = BertTokenizer(vocabulary)

    @Test
    fun wordPieceTakesTheLongestPieceFirst() {
        assertArrayEquals(intArrayOf(6), tokenizer.tokenize("gripping"))
        assertArrayEquals(intArrayOf(7, 9), tokenizer.tokenize("grips"))
    }

    @Test
    fun aWordWithoutFullCoverOrTooLongIsOneUnknown() {
        assertArrayEquals(intArrayOf(1, 5), tokenizer.tokenize("gripx film"))
        val long = "grip" + "s".repeat(97)   // 101 bytes, though "grip" + "##s" x 97 would cover it
        assertArrayEquals(intArrayOf(1), tokenizer.tokenize(long))
    }

    @Test
    fun basicTokenizationLowercasesAndSplitsPunctuation() {
        assertEquals(listOf("a", "gripping", "film", "!"), tokenizer.basicTokenize("A GRIPPING\tfilm!"))
        assertEquals(listOf("中", "文"), tokenizer.basicTokenize("中文"))
        assertEquals(listOf("ss"), tokenizer.basicTokenize("ß"))
        assertEquals(listOf("cafe"), BertTokenizer(vocabulary, stripAccents = true).basicTokenize("Café"))
    }

    @Test
    fun theCheckpointNormalizationStripsAccentsWithoutCompatibilityFolding() {
        val normalizer = BertNormalizer(lowercase = true)
        assertEquals("le cafe, a montreal", normalizer.normalize("Le Café, à Montréal"))
        assertEquals("ﬁ ß ｆ，", normalizer.normalize("ﬁ ß Ｆ，"))        // no NFKC folding
        assertEquals(" 中  文 ", normalizer.normalize("中文"))               // CJK spaced
        // Zero-width and control characters go, form feed included; tab is a space.
        assertEquals("ab c", normalizer.normalize("a\u200bb\u000C\tc"))
        assertEquals("Café", BertNormalizer(lowercase = false).normalize("Café"))  // cased: kept
        val tokenizer = BertTokenizer(vocabulary, normalizer = normalizer)
        assertEquals(listOf("jeremy", "!", "中", "文"), tokenizer.basicTokenize("Jérémy!中文"))
    }

    @Test
    fun normalizedWordsAreSlicesOfTheOriginalText() {
        val text = "Frédéric\u200bChopin, 日本"
        val words = splitWords(text, BertNormalizer())
        assertEquals(listOf("Frédéric\u200bChopin", ",", "日", "本"), words.map { it.text })
        words.forEach { assertEquals(it.text, text.substring(it.start, it.end)) }
    }

    @Test
    fun anAccentedAnswerKeepsItsCharactersAndOffsets() {
        val vocabulary = Vocabulary.fromLines(listOf(
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "who", "was", "born", "?", "frederic", "chopin",
            "in", "zelazowa", "wola", "."))
        val tokenizer = BertTokenizer(vocabulary, normalizer = BertNormalizer())
        val context = "Fr\u00e9d\u00e9ric Chopin was born in \u017belazowa Wola."
        val input = QaPacker(tokenizer, sequenceLength = 32).pack("Who was born?", context)
        val window = input.windows.single()
        // [CLS] who was born ? [SEP] frederic chopin was born in zelazowa wola . [SEP]
        assertArrayEquals(intArrayOf(2, 4, 5, 6, 7, 3, 8, 9, 5, 6, 10, 11, 12, 13, 3), window.ids)
        val start = FloatArray(32)
        val end = FloatArray(32)
        start[window.contextOffset] = 5f       // "frederic"
        end[window.contextOffset + 1] = 5f     // "chopin"
        val answer = SpanDecoder().decode(input, listOf(start), listOf(end))
        assertEquals("Fr\u00e9d\u00e9ric Chopin", answer.text)   // the context's own characters
        assertEquals(0, answer.start)
        assertEquals(15, answer.end)
    }

    @Test
    fun splitWordsKeepsUtf16Offsets() {
        val text = "😀 Jeremy, Paris"
        val words = splitWords(text)
        assertEquals(listOf("😀", "Jeremy", ",", "Paris"), words.map { it.text })
        words.forEach { assertEquals(it.text, text.substring(it.start, it.end)) }
    }

    @Test
    fun packingAndDecodingFindTheAnswerSpan() {
        val input = QaPacker(tokenizer, sequenceLength = 16).pack("Who lives in Paris?", "Jeremy lives in Paris.")
        val window = input.windows.single()
        // [CLS] [UNK] lives in paris [UNK] [SEP] jeremy lives in paris . [SEP]; "?" is not in this vocabulary.
        assertArrayEquals(intArrayOf(2, 1, 13, 14, 12, 1, 3, 15, 13, 14, 12, 16, 3), window.ids)
        assertEquals(7, window.contextOffset)
        val start = FloatArray(16)
        val end = FloatArray(16)
        start[7] = 5f  // "jeremy"
        end[7] = 5f
        val answer = SpanDecoder().decode(input, listOf(start), listOf(end))
        assertEquals("Jeremy", answer.text)
        assertEquals(0, answer.start)
        assertEquals(6, answer.end)
        val padded = window.padded(16)
        assertArrayEquals(IntArray(16) { if (it < 13) 1 else 0 }, padded.mask)
    }

    @Test
    fun noAnswerWhenTheNullScoreWinsByMoreThanTheThreshold() {
        val answer = Answer("Jeremy", 0, 6, 0.9, nullScoreDiff = 2.0)
        assertEquals("", SpanDecoder().finalText(answer, nullThreshold = 1.0))
        assertEquals("Jeremy", SpanDecoder().finalText(answer, nullThreshold = 3.0))
        assertEquals("Jeremy", SpanDecoder().finalText(answer, nullThreshold = null))
    }

    @Test
    fun labelsRankScoresAndNameUnlabeledOutputs() {
        val labels = Labels.fromLines(listOf("negative", "positive", ""))
        assertEquals(listOf("positive", "negative"), labels.ranked(floatArrayOf(0.2f, 0.8f)).map { it.label })
        assertEquals("3", Labels(emptyList()).nameOf(3))
    }
}
