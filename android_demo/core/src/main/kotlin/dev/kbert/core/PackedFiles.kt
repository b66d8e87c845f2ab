package dev.kbert.core

import java.io.ByteArrayOutputStream
import java.util.zip.Inflater

/**
 * The files packed into a .tflite with its TFLite Model Metadata (`vocab.txt`, `labels.txt`):
 * the metadata populator appends them to the model as a zip archive, which this reads from the
 * end of the file (its central directory), as `kbert.export.metadata.packed_files` does.
 *
 *     val files = PackedFiles.read(modelBytes)
 *     val vocabulary = Vocabulary.fromLines(String(files.getValue("vocab.txt"), Charsets.UTF_8).lines())
 */
object PackedFiles {
    private const val END_OF_CENTRAL_DIRECTORY = 0x06054b50
    private const val CENTRAL_FILE_HEADER = 0x02014b50
    private const val LOCAL_FILE_HEADER = 0x04034b50
    private const val STORED = 0
    private const val DEFLATED = 8

    /** File name -> contents; empty when the model has no packed files. */
    fun read(model: ByteArray): Map<String, ByteArray> {
        val end = findEndOfCentralDirectory(model) ?: return emptyMap()
        val count = u16(model, end + 10)
        val directorySize = u32(model, end + 12)
        val directoryOffset = u32(model, end + 16)
        // Offsets count from the archive's start, which follows the model's own bytes.
        val archiveStart = end - directorySize - directoryOffset
        require(archiveStart >= 0) { "corrupt packed files: bad central directory" }
        val files = LinkedHashMap<String, ByteArray>()
        var entry = archiveStart + directoryOffset
        repeat(count) {
            require(u32(model, entry) == CENTRAL_FILE_HEADER) { "corrupt packed files: bad entry" }
            val method = u16(model, entry + 10)
            val compressedSize = u32(model, entry + 20)
            val size = u32(model, entry + 24)
            val nameLength = u16(model, entry + 28)
            val extraLength = u16(model, entry + 30)
            val commentLength = u16(model, entry + 32)
            val local = archiveStart + u32(model, entry + 42)
            val name = String(model, entry + 46, nameLength, Charsets.UTF_8)
            require(u32(model, local) == LOCAL_FILE_HEADER) { "corrupt packed file $name" }
            val data = local + 30 + u16(model, local + 26) + u16(model, local + 28)
            files[name] = when (method) {
                STORED -> model.copyOfRange(data, data + size)
                DEFLATED -> inflate(model, data, compressedSize, size)
                else -> throw IllegalArgumentException("packed file $name: compression $method")
            }
            entry += 46 + nameLength + extraLength + commentLength
        }
        return files
    }

    /** The last end-of-central-directory record (22 bytes + a comment of up to 64 KiB). */
    private fun findEndOfCentralDirectory(bytes: ByteArray): Int? {
        var i = bytes.size - 22
        val stop = Math.max(0, bytes.size - 22 - 0xFFFF)
        while (i >= stop) {
            if (u32(bytes, i) == END_OF_CENTRAL_DIRECTORY && i + 22 + u16(bytes, i + 20) == bytes.size) return i
            i--
        }
        return null
    }

    private fun inflate(bytes: ByteArray, offset: Int, length: Int, size: Int): ByteArray {
        val inflater = Inflater(true)  // Zip entries are raw deflate streams.
        try {
            inflater.setInput(bytes, offset, length)
            val out = ByteArrayOutputStream(size)
            val buffer = ByteArray(8192)
            while (!inflater.finished()) {
                val n = inflater.inflate(buffer)
                if (n == 0 && (inflater.needsInput() || inflater.needsDictionary())) break
                out.write(buffer, 0, n)
            }
            return out.toByteArray()
        } finally {
            inflater.end()
        }
    }

    private fun u16(b: ByteArray, i: Int): Int = (b[i].toInt() and 0xFF) or ((b[i + 1].toInt() and 0xFF) shl 8)

    private fun u32(b: ByteArray, i: Int): Int = u16(b, i) or (u16(b, i + 2) shl 16)
}
