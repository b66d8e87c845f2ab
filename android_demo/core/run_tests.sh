#!/usr/bin/env bash
# Conformance of the Kotlin core with kbert: writes the golden files with kbert (the `python` of
# the active environment), compiles the core and its JUnit 4 tests with kotlinc (Debian's
# `kotlin` and `junit4` packages are enough) and runs them on the JVM. Exits non-zero on any
# failure, or when no test ran.
#
#   android_demo/core/run_tests.sh
#   KBERT_QA_TFLITE=runs/squad_v1/export/dynamic/model.tflite android_demo/core/run_tests.sh
#
# KBERT_QA_TFLITE: an exported QA model (.tflite with metadata). The decoding goldens use its
# logits, and tools/check_tflite_qa.py runs the core's packed windows through it. Default: seeded
# pseudo-random logits, and a tiny random QA model exported on the fly for the check.
set -euo pipefail
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"  # TensorFlow's start-up chatter (3: cuInit too).
core="$(cd "$(dirname "$0")" && pwd)"
build="$core/build"
goldens="$build/goldens"
java_lib=/usr/share/java
classpath="$java_lib/junit4.jar:$java_lib/hamcrest-core.jar:$java_lib/kotlin-stdlib.jar"
if ! command -v kotlinc >/dev/null || [[ ! -f "$java_lib/junit4.jar" ]]; then
  echo "installing Debian's kotlin and junit4 (the core's compiler and test runner)" >&2
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -q && $sudo apt-get install -y -q kotlin junit4
fi
for jar in ${classpath//:/ }; do
  [[ -f "$jar" ]] || { echo "missing $jar: apt-get install -y kotlin junit4" >&2; exit 1; }
done

rm -rf "$build" && mkdir -p "$goldens"
# The compiler (a JVM) and the goldens (Python) need nothing of each other: both at once, the
# compiler's messages shown after. kotlinc warns on JVM options that new JDKs deprecate; only its
# own messages matter.
( kotlinc "$core/src/main/kotlin" -d "$build/core.jar" \
    && kotlinc "$core/src/test/kotlin" -cp "$build/core.jar:$classpath" -d "$build/tests.jar" ) \
  > "$build/kotlinc.log" 2>&1 &
compiler=$!
python "$core/../tools/write_goldens.py" --out "$goldens" --qa_model "${KBERT_QA_TFLITE:-}"
wait "$compiler" || true
grep -v -e '-Xverify' -e '^OpenJDK' "$build/kotlinc.log" || true
[[ -f "$build/core.jar" ]] || { echo "the core did not compile" >&2; exit 1; }
[[ -f "$build/tests.jar" ]] || { echo "the tests did not compile" >&2; exit 1; }

tests=$(cd "$core/src/test/kotlin" && grep -l '@Test' -r . | sed 's|^\./||; s|\.kt$||; s|/|.|g' | sort)
set +e
java -Dgoldens.dir="$goldens" -cp "$build/core.jar:$build/tests.jar:$classpath" \
  org.junit.runner.JUnitCore $tests | tee "$build/junit.log"
status=${PIPESTATUS[0]}
set -e
# JUnitCore prints "OK (N tests)" only when every test passed.
ran=$(sed -n 's/^OK (\([0-9]*\) tests*)$/\1/p' "$build/junit.log")
if [[ $status -ne 0 || -z "$ran" || "$ran" -eq 0 ]]; then
  echo "android_demo/core: JUnit failed or ran no test" >&2
  exit 1
fi

# The core's windows through a real interpreter must give kbert's own on-device answers.
if [[ -f "$goldens/core_packed_qa_squad.tsv" ]]; then
  python "$core/../tools/check_tflite_qa.py" --goldens "$goldens" --qa_model "${KBERT_QA_TFLITE:-}"
fi
