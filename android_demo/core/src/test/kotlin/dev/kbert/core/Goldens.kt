package dev.kbert.core

import java.io.File
import java.util.Base64
import org.junit.Assume.assumeTrue

/**
 * Reads the golden files android_demo/tools/write_goldens.py writes (its docstring has the
 * format) from the directory in the system property `goldens.dir`.
 */
object Goldens {
    val dir: File by lazy {
        val path = System.getProperty("goldens.dir")
            ?: throw IllegalStateException("set -Dgoldens.dir to write_goldens.py's --out")
        File(path).also { check(it.isDirectory) { "no goldens at $it: run write_goldens.py" } }
    }

    /** The tokenizer kbert's goldens were written with: the checkpoint's normalization. */
    val tokenizer: BertTokenizer by lazy {
        val normalizer = BertNormalizer()
        val recorded = File(dir, "normalization.txt").readText(Charsets.UTF_8).trim()
        check(recorded == normalizer.describe()) {
            "kbert's tokenizer normalizes with $recorded; the goldens' tokenizer with ${normalizer.describe()}"
        }
        BertTokenizer(Vocabulary.fromLines(File(dir, "vocab.txt").readLines(Charsets.UTF_8)),
                      normalizer = normalizer)
    }

    /** KerasHub's own tokenization, which models saved before kbert read the checkpoint's keep. */
    val kerasHubTokenizer: BertTokenizer by lazy { BertTokenizer(tokenizer.vocabulary) }

    /** The file `name`; a set written only from ../shared/data skips the test when absent. */
    fun file(name: String, fromSharedData: Boolean = false): File {
        val file = File(dir, name)
        if (fromSharedData) assumeTrue("$file not written (no ../shared/data?)", file.isFile)
        check(file.isFile) { "$file is missing: run write_goldens.py" }
        return file
    }

    fun text(b64: String): String = String(Base64.getDecoder().decode(b64), Charsets.UTF_8)

    fun ints(field: String): IntArray =
        if (field.length == 0) IntArray(0) else field.split(" ").map { it.toInt() }.toIntArray()

    fun floats(field: String): FloatArray = field.split(" ").map { it.toFloat() }.toFloatArray()

    /** A Python float's repr ("inf" included). */
    fun double(field: String): Double = when (field) {
        "inf" -> Double.POSITIVE_INFINITY
        "-inf" -> Double.NEGATIVE_INFINITY
        else -> field.toDouble()
    }

    /** `text` with its invisible characters escaped, for failure messages. */
    fun show(text: String): String {
        val out = StringBuilder()
        var i = 0
        while (i < text.length) {
            val cp = text.codePointAt(i)
            if (cp in 0x20..0x7E) out.appendCodePoint(cp) else out.append(String.format("\\u{%X}", cp))
            i += Character.charCount(cp)
        }
        return out.toString()
    }

    /** Collects mismatches and fails once, with the first few, after all cases ran. */
    class Mismatches(private val what: String) {
        private val messages = ArrayList<String>()
        var cases = 0

        fun check(ok: Boolean, message: () -> String) {
            cases++
            if (!ok) messages.add(message())
        }

        fun assertNone() {
            println("$what: ${cases - messages.size}/$cases cases reproduced")
            if (messages.isNotEmpty()) {
                throw AssertionError("$what: ${messages.size} of $cases cases differ from kbert:\n" +
                                     messages.take(10).joinToString("\n"))
            }
        }
    }
}
