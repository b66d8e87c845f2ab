package dev.kbert.core

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/** kbert.json, packed in kbert's exports, as the core reads it and as kbert reads it. */
class ModelSettingsGoldenTest {
    /** model path -> key -> value, from model_settings.tsv (kbert's file_settings). */
    private val expected: Map<String, Map<String, String>> by lazy {
        val models = LinkedHashMap<String, MutableMap<String, String>>()
        Goldens.file("model_settings.tsv").forEachLine(Charsets.UTF_8) { line ->
            val (model, key, value) = line.split("\t")
            models.getOrPut(model) { LinkedHashMap() }[key] = value
        }
        models
    }

    @Test
    fun readsWhatKbertReads() {
        assertTrue("no model in model_settings.tsv", expected.isNotEmpty())
        for ((model, values) in expected) {
            val settings = ModelSettings.fromModel(File(model).readBytes())
            val qa = settings.questionAnswering()
            val actual = mapOf(
                "task" to settings.task, "window_length" to settings.windowLength.toString(),
                "lowercase" to settings.lowercase.toString(),
                "normalization" to (settings.normalizer?.describe() ?: "none"),
                "doc_stride" to qa.docStride.toString(), "max_query_length" to qa.maxQueryLength.toString(),
                "n_best" to qa.nBest.toString(), "max_answer_length" to qa.maxAnswerLength.toString(),
                "null_threshold" to (qa.nullThreshold?.toString() ?: "none"))
            assertEquals(model, values.keys, actual.keys)
            for ((key, value) in values) {
                if (key == "null_threshold" && value != "none") {
                    assertEquals("$model $key", Goldens.double(value), qa.nullThreshold!!, 0.0)
                } else {
                    assertEquals("$model $key", value, actual[key])
                }
            }
            assertEquals(qa.sequenceLength, settings.windowLength)
            println("$model: $qa")
        }
    }

    /** write_goldens.py's settings model has kbert's non-default settings, exactly. */
    @Test
    fun theSettingsModelCarriesNonDefaultSettings() {
        val qa = ModelSettings.fromModel(File(Goldens.dir, "qa_settings_model.tflite").readBytes())
            .questionAnswering()
        assertEquals(QaSettings(sequenceLength = 128, docStride = 40, maxQueryLength = 24, nBest = 7,
                                maxAnswerLength = 9, nullThreshold = -0.03125, lowercase = true,
                                normalizer = BertNormalizer(lowercase = true)), qa)
    }

    @Test
    fun parsesTheJsonKbertWrites() {
        val settings = ModelSettings.parse("""
            {
              "task": "question_answering",
              "window_length": 384,
              "max_sequence_length": 512,
              "lowercase": false,
              "pair_inputs": true,
              "labels": null,
              "mediapipe": null,
              "mediapipe_note": "a \"quoted\" note \u00e9\u4e2d \ud83d\ude00 \\ / \n",
              "settings": {"doc_stride": 96, "max_query_length": 32, "n_best": 10,
                           "max_answer_length": 12, "version_2_with_negative": false,
                           "null_threshold": 1.5e-1}
            }
        """.trimIndent())
        assertEquals("question_answering", settings.task)
        assertEquals(512, settings.maxSequenceLength)
        assertNull(settings.labels)
        val qa = settings.questionAnswering()
        assertEquals(QaSettings(384, 96, 32, 10, 12, null, false), qa)  // v1.1: no threshold
        assertEquals(0.15, (settings.settings["null_threshold"] as Number).toDouble(), 0.0)
        assertEquals(listOf("a", "b"), ModelSettings.parse(
            """{"task": "classification", "window_length": 8, "labels": ["a", "b"], "settings": {}}""").labels)
        assertEquals("a \"quoted\" note \u00e9\u4e2d \ud83d\ude00 \\ / \n",
                     (MiniJson.parse(""""a \"quoted\" note \u00e9\u4e2d \ud83d\ude00 \\ / \n"""") as String))
    }

    @Test(expected = IllegalArgumentException::class)
    fun aModelWithoutKbertJsonIsRefused() {
        ModelSettings.fromModel(ByteArray(100) { it.toByte() })
    }
}
