package dev.kbert.demo

import android.content.Context
import dev.kbert.core.PackedFiles
import java.io.FileInputStream
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

/** The exported models, read from the app's assets (app/src/main/assets/). */
object ModelAssets {
    const val CLASSIFIER = "classifier.tflite"
    const val QUESTION_ANSWERER = "qa.tflite"

    fun exists(context: Context, name: String): Boolean =
        context.assets.list("")?.contains(name) == true

    /** The model memory-mapped (the build keeps .tflite assets uncompressed for this). */
    fun map(context: Context, name: String): MappedByteBuffer =
        context.assets.openFd(name).use { fd ->
            FileInputStream(fd.fileDescriptor).channel.use { channel ->
                channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
            }
        }

    /** The files kbert packed into the model with its metadata (vocab.txt, labels.txt, kbert.json). */
    fun packedFiles(model: MappedByteBuffer): Map<String, ByteArray> {
        val bytes = ByteArray(model.capacity())
        model.duplicate().apply { rewind() }.get(bytes)
        return PackedFiles.read(bytes)
    }

    /** The packed files as text lines. */
    fun packedText(model: MappedByteBuffer): Map<String, List<String>> =
        packedFiles(model).mapValues { String(it.value, Charsets.UTF_8).lines() }
}
