package dev.kbert.core

/**
 * What kbert packs in a .tflite as `kbert.json` (a model-level associated file of its TFLite
 * metadata, next to vocab.txt and labels.txt; `kbert.export.metadata.file_settings` reads it in
 * Python): the task, the window length rows are cut at, casing, labels and the task's settings.
 *
 *     val settings = ModelSettings.fromModel(modelBytes)
 *     val qa = settings.questionAnswering()        // doc stride, n-best, null threshold, ...
 *     val packer = QaPacker(tokenizer, qa)
 *     val decoder = SpanDecoder(qa)
 */
class ModelSettings(
    val task: String,
    val windowLength: Int,
    val maxSequenceLength: Int?,
    val lowercase: Boolean,
    val labels: List<String>?,
    /** The task's own settings (`"settings"` in kbert.json), as [MiniJson] parsed them. */
    val settings: Map<String, Any?>,
    /**
     * The checkpoint's text normalization (`"normalization"` in kbert.json); null for files
     * written before kbert recorded it, whose models were trained on KerasHub's tokenization.
     */
    val normalizer: BertNormalizer? = null
) {
    /** The tokenizer this model was trained with, on the file's vocabulary. */
    fun tokenizer(vocabulary: Vocabulary): BertTokenizer =
        BertTokenizer(vocabulary, lowercase = lowercase, normalizer = normalizer)

    /** The settings of a question answerer (`kbert.QuestionAnswerer`'s export). */
    fun questionAnswering(): QaSettings {
        fun int(key: String): Int = (settings[key] as? Number)?.toInt()
            ?: throw IllegalArgumentException("$FILE: settings.$key is missing or not a number")
        val v2 = settings["version_2_with_negative"] == true
        return QaSettings(
            sequenceLength = windowLength, docStride = int("doc_stride"),
            maxQueryLength = int("max_query_length"), nBest = int("n_best"),
            maxAnswerLength = int("max_answer_length"),
            // As kbert.export.OnDeviceQuestionAnswerer.from_file: only a v2.0 model abstains.
            nullThreshold = if (v2) (settings["null_threshold"] as? Number)?.toDouble() ?: 0.0 else null,
            lowercase = lowercase, normalizer = normalizer)
    }

    companion object {
        const val FILE = "kbert.json"

        /** From a .tflite's bytes; fails when kbert packed no kbert.json in it. */
        fun fromModel(model: ByteArray): ModelSettings = fromPackedFiles(PackedFiles.read(model))

        /** From the files [PackedFiles.read] found in a model. */
        fun fromPackedFiles(files: Map<String, ByteArray>): ModelSettings {
            val json = files[FILE]
                ?: throw IllegalArgumentException("the model has no packed $FILE: export it with kbert's metadata")
            return parse(String(json, Charsets.UTF_8))
        }

        fun parse(json: String): ModelSettings {
            val root = MiniJson.parse(json) as? Map<*, *>
                ?: throw IllegalArgumentException("$FILE is not a JSON object")
            fun <T> get(key: String, cast: (Any?) -> T?): T? = cast(root[key])
            return ModelSettings(
                task = get("task") { it as? String } ?: throw IllegalArgumentException("$FILE: no task"),
                windowLength = get("window_length") { (it as? Number)?.toInt() }
                    ?: throw IllegalArgumentException("$FILE: no window_length"),
                maxSequenceLength = get("max_sequence_length") { (it as? Number)?.toInt() },
                lowercase = root["lowercase"] == true,
                labels = (root["labels"] as? List<*>)?.map { it.toString() },
                settings = (root["settings"] as? Map<*, *>)?.entries?.associate { it.key.toString() to it.value }
                    ?: emptyMap(),
                normalizer = (root["normalization"] as? Map<*, *>)?.let { n ->
                    fun flag(key: String, default: Boolean) = n[key] as? Boolean ?: default
                    val lower = flag("lowercase", root["lowercase"] == true)
                    BertNormalizer(lowercase = lower, stripAccents = flag("strip_accents", lower),
                                   handleChineseChars = flag("chinese_chars", true),
                                   cleanText = flag("clean_text", true))
                })
        }
    }
}

/** A question answerer's settings, as kbert.json has them (the defaults are kbert's). */
data class QaSettings(
    val sequenceLength: Int = 384,
    val docStride: Int = 128,
    val maxQueryLength: Int = 64,
    val nBest: Int = 20,
    val maxAnswerLength: Int = 30,
    /** Answers are "" when the null score beats the best span by more; null: never (SQuAD v1.1). */
    val nullThreshold: Double? = null,
    val lowercase: Boolean = true,
    /** The checkpoint's text normalization; null: KerasHub's (models from before kbert read it). */
    val normalizer: BertNormalizer? = null
) {
    /** The tokenizer the model was trained with, on the file's vocabulary. */
    fun tokenizer(vocabulary: Vocabulary): BertTokenizer =
        BertTokenizer(vocabulary, lowercase = lowercase, normalizer = normalizer)
}

/**
 * A minimal JSON reader for kbert.json: objects (-> LinkedHashMap), arrays (-> List), strings
 * (all escapes, \uXXXX included), numbers (-> Long when integral, else Double), true, false,
 * null. Hand-written because the core depends on kotlin-stdlib only (org.json is Android's, not
 * the JVM's, and the core's tests run on a bare JVM with no JSON library on the classpath).
 */
object MiniJson {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        val value = reader.value()
        reader.skipSpace()
        require(reader.i == text.length) { "JSON: trailing characters at ${reader.i}" }
        return value
    }

    private class Reader(val s: String) {
        var i = 0

        fun skipSpace() {
            while (i < s.length && s[i] in " \t\r\n") i++
        }

        private fun fail(what: String): Nothing = throw IllegalArgumentException("JSON: $what at $i")

        private fun expect(c: Char) {
            skipSpace()
            if (i >= s.length || s[i] != c) fail("expected '$c'")
            i++
        }

        fun value(): Any? {
            skipSpace()
            if (i >= s.length) fail("unexpected end")
            return when (val c = s[i]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                // Python's json writes non-finite floats so (a fitted threshold never is one).
                'N' -> literal("NaN", Double.NaN)
                'I' -> literal("Infinity", Double.POSITIVE_INFINITY)
                else -> if (c == '-' || c in '0'..'9') number() else fail("unexpected '$c'")
            }
        }

        private fun literal(word: String, value: Any?): Any? {
            if (!s.startsWith(word, i)) fail("bad literal")
            i += word.length
            return value
        }

        private fun obj(): Map<String, Any?> {
            val map = LinkedHashMap<String, Any?>()
            i++
            skipSpace()
            if (i < s.length && s[i] == '}') { i++; return map }
            while (true) {
                skipSpace()
                if (i >= s.length || s[i] != '"') fail("expected a key")
                val key = string()
                expect(':')
                map[key] = value()
                skipSpace()
                if (i < s.length && s[i] == ',') { i++; continue }
                expect('}')
                return map
            }
        }

        private fun array(): List<Any?> {
            val list = ArrayList<Any?>()
            i++
            skipSpace()
            if (i < s.length && s[i] == ']') { i++; return list }
            while (true) {
                list.add(value())
                skipSpace()
                if (i < s.length && s[i] == ',') { i++; continue }
                expect(']')
                return list
            }
        }

        private fun string(): String {
            val out = StringBuilder()
            i++  // The opening quote.
            while (true) {
                if (i >= s.length) fail("unterminated string")
                val c = s[i++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        if (i >= s.length) fail("unterminated escape")
                        when (val e = s[i++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (i + 4 > s.length) fail("short \\u escape")
                                out.append(s.substring(i, i + 4).toInt(16).toChar())
                                i += 4
                            }
                            else -> fail("bad escape \\$e")
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        private fun number(): Number {
            if (s.startsWith("-Infinity", i)) { i += 9; return Double.NEGATIVE_INFINITY }
            val start = i
            while (i < s.length && (s[i] in "+-.eE" || s[i] in '0'..'9')) i++
            val text = s.substring(start, i)
            val integral: Long? = text.toLongOrNull()
            if (integral != null) return integral
            return text.toDoubleOrNull() ?: fail("bad number '$text'")
        }
    }
}
