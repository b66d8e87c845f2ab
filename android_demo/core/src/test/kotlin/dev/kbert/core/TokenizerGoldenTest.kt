package dev.kbert.core

import java.io.File
import org.junit.Assert.assertTrue
import org.junit.Test

/** The core's tokenizer against kbert's on the golden texts: the same ids, every time. */
class TokenizerGoldenTest {
    private fun reproduce(file: File, tokenizer: BertTokenizer = Goldens.tokenizer,
                          skip: (String) -> Boolean = { false }): Int {
        val mismatches = Goldens.Mismatches(file.name)
        var skipped = 0
        file.forEachLine(Charsets.UTF_8) { line ->
            val fields = line.split("\t")
            val text = Goldens.text(fields[0])
            if (skip(text)) {
                skipped++
            } else {
                val expected = Goldens.ints(fields[1])
                val actual = tokenizer.tokenize(text)
                mismatches.check(actual.contentEquals(expected)) {
                    "  \"${Goldens.show(text)}\"\n    kbert:  ${expected.toList()}\n    core:   ${actual.toList()}"
                }
            }
        }
        if (skipped > 0) println("${file.name}: $skipped cases skipped")
        mismatches.assertNone()
        return mismatches.cases
    }

    @Test
    fun trickyStrings() {
        reproduce(Goldens.file("tokens_tricky.tsv"))
    }

    @Test
    fun trickyStringsAsKerasHubTokenizesThem() {
        reproduce(Goldens.file("tokens_tricky_keras_hub.tsv"), Goldens.kerasHubTokenizer)
    }

    @Test
    fun trickyStringsWithKerasHubAccentStripping() {
        val stripping = BertTokenizer(Goldens.tokenizer.vocabulary, stripAccents = true)
        reproduce(Goldens.file("tokens_tricky_strip_accents.tsv"), stripping)
    }

    /**
     * Code points whose general category a later Unicode version changed, so this JVM (Java 17:
     * Unicode 13) and kbert's TensorFlow (newer ICU tables) disagree by definition: U+1734
     * HANUNOO SIGN PAMUDPOD became a spacing mark (Mc, kept) in Unicode 14; Java 17 still has it
     * non-spacing (Mn, stripped with the accents).
     */
    private val RECATEGORIZED = setOf(0x1734)

    /**
     * Every code point on its own: its class (space, control, punctuation, CJK), its case
     * folding and its WordPiece. Code points this JVM's Unicode version does not know yet are
     * skipped (their properties differ by definition).
     */
    @Test
    fun everyCodePoint() {
        val cases = reproduce(Goldens.file("tokens_code_points.tsv")) { text ->
            val cp = text.codePointAt(0)
            !Character.isDefined(cp) || cp in RECATEGORIZED
        }
        assertTrue(cases > 200000)
    }

    @Test
    fun sst2Sentences() {
        assertTrue(reproduce(Goldens.file("tokens_sst2.tsv", fromSharedData = true)) >= 2000)
    }

    @Test
    fun squadQuestionsAndContexts() {
        reproduce(Goldens.file("tokens_squad.tsv", fromSharedData = true))
    }
}
