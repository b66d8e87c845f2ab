package dev.kbert.demo

import android.app.Activity
import android.content.Intent
import android.os.Bundle
import android.widget.Button

/** The launcher: a button per screen. */
class MainActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        findViewById<Button>(R.id.open_classify).setOnClickListener {
            startActivity(Intent(this, ClassifyActivity::class.java))
        }
        findViewById<Button>(R.id.open_ask).setOnClickListener {
            startActivity(Intent(this, AskActivity::class.java))
        }
    }
}
