package dev.kbert.demo

import android.app.Activity
import android.os.Bundle
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.text.textclassifier.TextClassifier
import dev.kbert.core.BertNormalizer
import dev.kbert.core.Labels
import dev.kbert.core.ModelSettings
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * Classify: MediaPipe Tasks' TextClassifier runs kbert's exported classifier on the typed text
 * (MediaPipe tokenizes with the vocabulary packed in the model) and every label is shown with
 * its score. MediaPipe's BERT tokenizer only lowercases: the text is first normalized the way the
 * checkpoint was pretrained (accents stripped, CJK spaced, controls dropped: the "normalization"
 * kbert.json records), so MediaPipe sees the tokens the model was trained on.
 */
class ClassifyActivity : Activity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private var classifier: TextClassifier? = null
    private var labels = Labels(emptyList())
    private var normalizer: BertNormalizer? = null

    private lateinit var text: EditText
    private lateinit var button: Button
    private lateinit var status: TextView
    private lateinit var results: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_classify)
        text = findViewById(R.id.text)
        button = findViewById(R.id.classify)
        status = findViewById(R.id.status)
        results = findViewById(R.id.results)
        button.setOnClickListener { classify(text.text.toString()) }
        worker.execute { load() }
    }

    private fun load() {
        val name = ModelAssets.CLASSIFIER
        val message = if (!ModelAssets.exists(this, name)) {
            getString(R.string.model_missing, name)
        } else try {
            // Names for outputs MediaPipe reports without one (a model exported without labels).
            val packed = ModelAssets.packedText(ModelAssets.map(this, name))
            labels = Labels.fromLines(packed["labels.txt"].orEmpty())
            normalizer = packed[ModelSettings.FILE]?.let { ModelSettings.parse(it.joinToString("\n")).normalizer }
            val options = TextClassifier.TextClassifierOptions.builder()
                .setBaseOptions(BaseOptions.builder().setModelAssetPath(name).build())
                .build()
            classifier = TextClassifier.createFromOptions(this, options)
            getString(R.string.ready)
        } catch (e: Exception) {
            getString(R.string.model_failed, name, e.message)
        }
        runOnUiThread {
            status.text = message
            button.isEnabled = classifier != null
        }
    }

    private fun classify(input: String) {
        val model = classifier ?: return
        button.isEnabled = false
        status.setText(R.string.running)
        worker.execute {
            val started = System.nanoTime()
            val text = normalizer?.normalize(input) ?: input
            val categories = model.classify(text).classificationResult().classifications()[0].categories()
            val millis = (System.nanoTime() - started) / 1_000_000
            val lines = categories.sortedByDescending { it.score() }.joinToString("\n") { category ->
                val name = category.categoryName().ifEmpty { labels.nameOf(category.index()) }
                "%-12s %5.1f%%  %s".format(name, 100 * category.score(), bar(category.score()))
            }
            runOnUiThread {
                results.text = lines
                status.text = "$millis ms"
                button.isEnabled = true
            }
        }
    }

    private fun bar(score: Float): String = "█".repeat((score * 20).toInt().coerceIn(0, 20))

    override fun onDestroy() {
        worker.execute { classifier?.close() }
        worker.shutdown()
        super.onDestroy()
    }
}
