package dev.kbert.core

import java.io.File
import java.security.MessageDigest
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** The files packed in .tflite models, as the core reads them and as kbert reads them. */
class PackedFilesGoldenTest {
    @Test
    fun readsWhatKbertReads() {
        val expected = LinkedHashMap<String, MutableMap<String, String>>()
        Goldens.file("packed_files.tsv").forEachLine(Charsets.UTF_8) { line ->
            val (model, name, sha) = line.split("\t")
            expected.getOrPut(model) { LinkedHashMap() }[name] = sha
        }
        for ((model, files) in expected) {
            val actual = PackedFiles.read(File(model).readBytes()).mapValues { sha256(it.value) }
            assertEquals(model, files, actual)
            println("$model: ${actual.keys} read as kbert reads them")
        }
        assertTrue(expected.values.any { "vocab.txt" in it })
    }

    @Test
    fun aModelWithoutMetadataHasNoPackedFiles() {
        assertEquals(emptyMap<String, ByteArray>(), PackedFiles.read(ByteArray(100) { it.toByte() }))
    }

    private fun sha256(bytes: ByteArray): String =
        MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { String.format("%02x", it) }
}
