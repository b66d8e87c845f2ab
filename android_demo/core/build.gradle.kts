// The app's logic that must match kbert exactly: plain Kotlin on the JVM, no Android dependency.
// Its tests compare it with golden files kbert writes: run ./run_tests.sh (which also compiles
// and runs them with a bare kotlinc); `gradle :core:test` runs them on the goldens it left.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    val goldens = layout.buildDirectory.dir("goldens").get().asFile
    systemProperty("goldens.dir", goldens.absolutePath)
    onlyIf("golden files written by core/run_tests.sh") { goldens.isDirectory }
    testLogging { showStandardStreams = true }
}
