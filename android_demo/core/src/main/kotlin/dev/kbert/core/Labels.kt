package dev.kbert.core

/** A label and its score, e.g. from a classifier's output. */
data class ScoredLabel(val label: String, val index: Int, val score: Float)

/**
 * The labels of a classifier, in output order: `labels.txt` as kbert packs it into the .tflite
 * (one label per line; label i names output i).
 *
 *     val labels = Labels.fromLines(listOf("negative", "positive"))
 *     labels.ranked(floatArrayOf(0.1f, 0.9f)).first()   // ScoredLabel("positive", 1, 0.9)
 */
class Labels(val names: List<String>) {
    val size: Int get() = names.size

    /** The name of output `index`; its number as text when it has no line (an unlabeled model). */
    fun nameOf(index: Int): String = if (index in names.indices) names[index] else index.toString()

    /** Every output with its label, best first; equal scores keep output order. */
    fun ranked(scores: FloatArray): List<ScoredLabel> {
        require(names.isEmpty() || scores.size == names.size) {
            "${scores.size} scores for ${names.size} labels: is it the model these labels belong to?"
        }
        return scores.indices.map { ScoredLabel(nameOf(it), it, scores[it]) }
            .sortedByDescending { it.score }
    }

    companion object {
        /** The lines of labels.txt; a trailing empty line (end of file) is not a label. */
        fun fromLines(lines: List<String>): Labels = Labels(lines.dropLastWhile { it.length == 0 })
    }
}
