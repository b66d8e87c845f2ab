package dev.kbert.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The core's QA packing and span decoding against kbert's (`qa_windows`, `decode_answers`) on
 * the golden questions: the same windows token for token, and from the same logits the same
 * answer (text and characters exactly; probability to 1e-9).
 */
class QaGoldenTest {
    private class Case(val question: String, val context: String) {
        var spans = IntArray(0)                    // S: word spans, start end start end ...
        val windows = ArrayList<Array<String>>()   // W fields
        val starts = ArrayList<FloatArray>()
        val ends = ArrayList<FloatArray>()
        var answer: Array<String> = emptyArray()
    }

    private fun read(file: File): Pair<QaPacker, List<Case>> {
        val lines = file.readLines(Charsets.UTF_8).map { it.split("\t").toTypedArray() }
        val p = lines[0]
        check(p[0] == "P") { "$file: no P line first" }
        val packer = QaPacker(Goldens.tokenizer, p[1].toInt(), p[2].toInt(), p[3].toInt())
        val cases = ArrayList<Case>()
        var case: Case? = null
        for (fields in lines.drop(1)) {
            when (fields[0]) {
                "Q" -> case = Case(Goldens.text(fields[1]), Goldens.text(fields[2])).also { cases.add(it) }
                "S" -> case!!.spans = Goldens.ints(fields[1])
                "W" -> case!!.windows.add(fields)
                "G" -> {
                    case!!.starts.add(Goldens.floats(fields[1]))
                    case.ends.add(Goldens.floats(fields[2]))
                }
                "A" -> case!!.answer = fields
                else -> throw IllegalStateException("$file: unknown line kind ${fields[0]}")
            }
        }
        return Pair(packer, cases)
    }

    /**
     * Packs and decodes every case of `name`. With `packedOut`, writes there what the core
     * packed: per question `S q spans`, then `W q context_offset ids segment_ids token_word
     * max_context` per window (fields as in the golden W lines).
     */
    private fun reproduce(name: String, fromSharedData: Boolean, packedOut: File? = null,
                          settings: QaSettings? = null): Int {
        val (goldenPacker, cases) = read(Goldens.file(name, fromSharedData))
        val packing = Goldens.Mismatches("$name packing")
        val decoding = Goldens.Mismatches("$name decoding")
        // With `settings` (a model file's kbert.json), the packer and decoder are built from them
        // alone; the golden's P line must then say the same.
        val packer = if (settings == null) goldenPacker else
            QaPacker(settings.tokenizer(Goldens.tokenizer.vocabulary), settings)
        assertEquals("$name: P line vs the model's settings",
                     listOf(goldenPacker.sequenceLength, goldenPacker.docStride, goldenPacker.maxQueryLength),
                     listOf(packer.sequenceLength, packer.docStride, packer.maxQueryLength))
        val decoder = if (settings == null) SpanDecoder() else SpanDecoder(settings)
        val packed = StringBuilder()
        for ((q, case) in cases.withIndex()) {
            val input = packer.pack(case.question, case.context)
            val spans = input.words.flatMap { listOf(it.start, it.end) }.toIntArray()
            val windows = input.windows.map { w ->
                arrayOf("W", w.contextOffset.toString(), join(w.ids), join(w.segmentIds),
                        join(w.tokenWord), w.maxContext.joinToString(" ") { if (it) "1" else "0" })
            }
            packing.check(spans.contentEquals(case.spans) && windows.size == case.windows.size &&
                              windows.indices.all { windows[it].contentEquals(case.windows[it]) }) {
                "  question $q \"${Goldens.show(case.question)}\": kbert ${case.windows.size} " +
                    "windows ${case.windows.map { it.toList() }}\n    core ${windows.map { it.toList() }}"
            }
            // What check_tflite_qa.py feeds to the model: this question's words and windows.
            packed.append("S\t$q\t${join(spans)}\n")
            for (window in windows) packed.append("W\t$q\t").append(window.drop(1).joinToString("\t")).append('\n')

            val answer = decoder.decode(input, case.starts, case.ends)
            val expected = case.answer
            val score = Goldens.double(expected[4])
            decoding.check(answer.text == Goldens.text(expected[1]) &&
                               answer.start == expected[2].toInt() && answer.end == expected[3].toInt() &&
                               Math.abs(answer.score - score) <= 1e-9 &&
                               answer.nullScoreDiff == Goldens.double(expected[5]) &&
                               // The final text (after the null threshold), where the golden has it.
                               (settings == null || expected.size < 7 ||
                                    decoder.finalText(answer) == Goldens.text(expected[6]))) {
                "  question $q \"${Goldens.show(case.question)}\": kbert " +
                    "\"${Goldens.show(Goldens.text(expected[1]))}\" ${expected.drop(2)}\n    core  $answer " +
                    "final \"${Goldens.show(decoder.finalText(answer))}\""
            }
        }
        packedOut?.writeText(packed.toString(), Charsets.UTF_8)
        packing.assertNone()
        decoding.assertNone()
        return cases.size
    }

    private fun join(values: IntArray): String = values.joinToString(" ")

    @Test
    fun trickyContexts() {
        reproduce("qa_tricky.tsv", fromSharedData = false)
    }

    /** kbert's settings (384, stride 128, query 64); the packed windows go to check_tflite_qa.py. */
    @Test
    fun squadQuestions() {
        val questions = reproduce("qa_squad.tsv", true, File(Goldens.dir, "core_packed_qa_squad.tsv"))
        assertTrue("only $questions SQuAD questions", questions >= 200)
    }

    /** Windows of 96 tokens, stride 24: nearly every context needs several. */
    @Test
    fun squadQuestionsInShortWindows() {
        reproduce("qa_squad_short_windows.tsv", fromSharedData = true)
    }

    /**
     * A kbert export with non-default settings (write_goldens.py's qa_settings_model.tflite): the
     * packer and decoder built from its kbert.json alone give kbert's answers from its logits,
     * final texts (v2.0 null threshold) included.
     */
    @Test
    fun withTheModelFilesSettings() {
        val model = File(Goldens.dir, "qa_settings_model.tflite")
        val settings = ModelSettings.fromModel(model.readBytes()).questionAnswering()
        val questions = reproduce("qa_model_settings.tsv", fromSharedData = false, settings = settings)
        assertTrue("only $questions questions", questions >= 60)
    }
}
