import pytest

from kbert.data import infer_labels, product_reviews, read_table, stream_table
from kbert.errors import KbertInputError, unwrapped_input_errors


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_tsv_keeps_bare_quotes_and_skips_a_byte_order_mark(tmp_path):
    path = write(tmp_path, "t.tsv", b'\xef\xbb\xbfsentence\tlabel\nit\'s "great\t1\nbad\t0\n')
    ex = read_table(path, "sentence", "label")
    assert ex.texts == ['it\'s "great', "bad"]
    assert ex.labels == ["1", "0"]
    assert ex.rows == [2, 3]


def test_headerless_file_by_column_index_like_cola(tmp_path):
    path = write(tmp_path, "cola.tsv", "gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tRode.\n")
    ex = read_table(path, text_column=3, label_column=1)
    assert ex.texts == ["The sailors rode the breeze.", "Rode."]
    assert ex.labels == ["1", "0"]


def test_pairs_and_csv_quoting(tmp_path):
    path = write(tmp_path, "p.csv", 'a,b,score\n"x, y",z,4.5\n')
    ex = read_table(path, "a", "score", text_pair_column="b")
    assert ex.x == [("x, y", "z")]


def test_jsonl_with_list_labels(tmp_path):
    path = write(tmp_path, "m.jsonl", '{"text": "Jeremy in Paris", "types": ["PER", "LOC"]}\n\n'
                                     '{"text": "nothing", "types": []}\n')
    ex = read_table(path, "text", "types")
    assert ex.labels == [["PER", "LOC"], []]
    assert ex.rows == [1, 3]


@pytest.mark.parametrize("content, row, field, message", [
    ("sentence\tlabel\n\t1\n", 2, "sentence", "text is empty"),
    ("sentence\tlabel\n   \t1\n", 2, "sentence", "text is empty"),
    ("sentence\tlabel\ngood\t\n", 2, "label", "label is empty"),
    ("sentence\tlabel\ngood\n", 2, "label", "column 1 is missing"),
    ("text\tlabel\ngood\t1\n", 1, "sentence", "no column named 'sentence'"),
])
def test_bad_rows_name_file_row_and_field(tmp_path, content, row, field, message):
    path = write(tmp_path, "bad.tsv", content)
    with pytest.raises(KbertInputError, match=message) as info:
        read_table(path, "sentence", "label")
    assert (info.value.source, info.value.row, info.value.field) == (str(path), row, field)


def test_undecodable_bytes_name_the_row(tmp_path):
    path = write(tmp_path, "bad.tsv", b"sentence\tlabel\ngood\t1\ncaf\xe9\t0\n")
    with pytest.raises(KbertInputError, match=r"bad.tsv, row 3: not valid UTF-8"):
        read_table(path, "sentence", "label")


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("sentence\tlabel\n", "no rows"),
])
def test_empty_and_header_only_files(tmp_path, content, message):
    with pytest.raises(KbertInputError, match=message):
        read_table(write(tmp_path, "e.tsv", content), "sentence", "label")


def test_jsonl_errors(tmp_path):
    with pytest.raises(KbertInputError, match="row 2: not valid JSON"):
        read_table(write(tmp_path, "a.jsonl", '{"text": "a", "label": 1}\n{oops\n'), "text", "label")
    with pytest.raises(KbertInputError, match="row 1, field 'label': missing field"):
        read_table(write(tmp_path, "b.jsonl", '{"text": "a"}\n'), "text", "label")
    with pytest.raises(KbertInputError, match="field 'text': value is missing"):
        read_table(write(tmp_path, "c.jsonl", '{"text": null, "label": 1}\n'), "text", "label")


def test_stream_table_maps_label_names_and_reads_pairs_and_scores(tmp_path):
    path = write(tmp_path, "t.tsv", "sentence\tlabel\ngood film\tpositive\ndull\tnegative\n")
    data = stream_table(path, "sentence", "label", labels=["negative", "positive"])
    assert [(x.numpy(), int(y)) for x, y in data] == [(b"good film", 1), (b"dull", 0)]
    assert data.element_spec[1].dtype.name == "int32"
    pairs = write(tmp_path, "p.csv", "a,b,score\nx,y,4.5\n")
    ((a, b), score), = list(stream_table(pairs, "a", "score", text_pair_column="b"))
    assert (a.numpy(), b.numpy(), float(score)) == (b"x", b"y", 4.5)


@pytest.mark.parametrize("content, labels, row, field, message", [
    ("sentence\tlabel\ngood\tpositive\nbad\tmeh\n", ["negative", "positive"], 3, "label",
     "unknown label 'meh'"),
    ("sentence\tlabel\ngood\tpositive\n", None, 2, "label", "not a number"),
    ("sentence\tlabel\ngood\t1\n\t0\n", None, 3, "sentence", "text is empty"),
])
def test_stream_table_errors_name_the_row_when_reached(tmp_path, content, labels, row, field,
                                                       message):
    path = write(tmp_path, "bad.tsv", content)
    data = stream_table(path, "sentence", "label", labels=labels)  # Nothing is read yet.
    with pytest.raises(KbertInputError, match=message) as info:
        with unwrapped_input_errors():  # What fit and predict do with tf.data inputs.
            list(data.as_numpy_iterator())
    assert (info.value.source, info.value.row, info.value.field) == (str(path), row, field)


def test_lines_are_read_as_needed_not_all_at_once(tmp_path, monkeypatch):
    """A streamed file is never read whole (what keeps a 1M-row file's memory flat)."""
    path = write(tmp_path, "t.tsv", "sentence\tlabel\n" + "good\t1\n" * 1000)
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("read whole file"))
    assert len(read_table(path, "sentence", "label", max_rows=5)) == 5


def test_missing_file():
    with pytest.raises(KbertInputError, match="file not found"):
        read_table("/nonexistent/train.tsv", "sentence", "label")


def test_infer_labels_sorts_integers_numerically():
    assert infer_labels(["10", "2", "1"]) == ["1", "2", "10"]
    assert infer_labels(["entailment", "not_entailment"]) == ["entailment", "not_entailment"]


def test_builtin_reviews_split_is_balanced_and_disjoint():
    train, held_out = product_reviews()
    assert (len(train), len(held_out)) == (240, 80)
    assert not set(train.texts) & set(held_out.texts)
    assert set(train.labels) == {"positive", "negative"}


def test_real_glue_files_load_as_they_are(shared_data):
    glue = shared_data / "glue"
    sst2 = read_table(glue / "SST-2/dev.tsv", "sentence", "label")
    assert len(sst2) == 872
    cola = read_table(glue / "CoLA/dev.tsv", text_column=3, label_column=1)
    assert len(cola) == 1043
    mrpc = read_table(glue / "MRPC/dev.tsv", "#1 String", "Quality", text_pair_column="#2 String")
    assert len(mrpc) == 408 and set(mrpc.labels) == {"0", "1"}
    stsb = read_table(glue / "STS-B/dev.tsv", "sentence1", "score", text_pair_column="sentence2")
    assert len(stsb) == 1500
    rte = read_table(glue / "RTE/dev.tsv", "sentence1", "label", text_pair_column="sentence2")
    assert set(rte.labels) == {"entailment", "not_entailment"}
    mnli = read_table(shared_data / "mnli/dev_matched-part-a.jsonl", "premise", "label",
                      text_pair_column="hypothesis")
    assert len(mnli) == 6000
    imdb = read_table(shared_data / "imdb/train.jsonl", "text", "label", max_rows=100)
    assert len(imdb) == 100
