package dev.kbert.demo

import android.app.Activity
import android.graphics.Color
import android.graphics.Typeface
import android.os.Bundle
import android.text.SpannableString
import android.text.Spanned
import android.text.style.BackgroundColorSpan
import android.text.style.StyleSpan
import android.widget.Button
import android.widget.EditText
import android.widget.TextView
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/** Ask: extractive question answering over a passage; the answer is highlighted in it. */
class AskActivity : Activity() {
    private val worker: ExecutorService = Executors.newSingleThreadExecutor()
    private var answerer: QuestionAnswerer? = null

    private lateinit var passage: EditText
    private lateinit var question: EditText
    private lateinit var button: Button
    private lateinit var status: TextView
    private lateinit var highlighted: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_ask)
        passage = findViewById(R.id.passage)
        question = findViewById(R.id.question)
        button = findViewById(R.id.ask)
        status = findViewById(R.id.status)
        highlighted = findViewById(R.id.highlighted)
        button.setOnClickListener { ask(question.text.toString(), passage.text.toString()) }
        worker.execute { load() }
    }

    private fun load() {
        val name = ModelAssets.QUESTION_ANSWERER
        val message = if (!ModelAssets.exists(this, name)) {
            getString(R.string.model_missing, name)
        } else try {
            answerer = QuestionAnswerer.fromAsset(this, name)
            getString(R.string.ready)
        } catch (e: Exception) {
            getString(R.string.model_failed, name, e.message)
        }
        runOnUiThread {
            status.text = message
            button.isEnabled = answerer != null
        }
    }

    private fun ask(question: String, passage: String) {
        val model = answerer ?: return
        button.isEnabled = false
        status.setText(R.string.running)
        worker.execute {
            val answer = model.answer(question, passage)
            runOnUiThread {
                val text = SpannableString(passage)
                if (answer.text.isEmpty()) {
                    status.setText(R.string.no_answer)
                } else {
                    status.text = getString(R.string.answer, answer.text, answer.score)
                    // Offsets are UTF-16 indices into the passage, as Android's spans count.
                    text.setSpan(BackgroundColorSpan(Color.rgb(0xFF, 0xE0, 0x82)), answer.start, answer.end,
                                 Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
                    text.setSpan(StyleSpan(Typeface.BOLD), answer.start, answer.end,
                                 Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
                }
                highlighted.text = text
                button.isEnabled = true
            }
        }
    }

    override fun onDestroy() {
        worker.execute { answerer?.close() }
        worker.shutdown()
        super.onDestroy()
    }
}
