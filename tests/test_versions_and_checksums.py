"""Versions compare by number, segment by segment; checksums ignore how lines end.

Pure functions: no repository needed. The sections of a markers-layout file are here too,
for what `vcsync check` cannot show (whether a half runs outside a transaction).
"""

from __future__ import annotations

import random

import pytest

from vcsync.migrations.checksum import checksum_chunks, checksum_text
from vcsync.migrations.markers import split_markers
from vcsync.migrations.versions import parse_version, version_from_user

# ---------------------------------------------------------------------------------------
# versions


def test_versions_compare_segment_by_segment_as_numbers() -> None:
    assert parse_version("1.10") > parse_version("1.9")
    assert parse_version("1.9.9") < parse_version("1.10")
    assert parse_version("2") > parse_version("1.99.99")
    assert parse_version("1.4.1") > parse_version("1.4")


@pytest.mark.parametrize(
    ("left", "right"),
    [("1.4", "1.4.0"), ("1.4.0", "01.04"), ("1", "1.0.0"), ("1_1", "1.1"), ("000123", "123")],
)
def test_one_version_spelt_two_ways_is_equal_and_hashes_alike(left: str, right: str) -> None:
    a, b = parse_version(left), parse_version(right)
    assert a == b and not a < b and not b < a
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_a_version_prints_as_it_was_written() -> None:
    assert [str(parse_version(t)) for t in ("1.4.0", "000123", "7.0_2018.04.16")] == [
        "1.4.0",
        "000123",
        "7.0_2018.04.16",
    ]


def test_flyway_dated_version_has_numeric_segments() -> None:
    version = parse_version("7.0_2018.04.16")
    assert version.key == (7, 0, 2018, 4, 16)
    assert version > parse_version("7.0_2018.04.15")
    assert version > parse_version("7.0_2018.4.9")  # 16 > 9, though "16" < "9" as text
    assert version < parse_version("7.0_2018.04.17") < parse_version("7.1")


def test_diesel_timestamp_spellings_are_one_number_and_interleave() -> None:
    dashed = parse_version("2017-09-23-123456", joined=True)
    assert dashed == parse_version("20170923123456", joined=True)
    july = parse_version("20170708123456", joined=True)
    october = parse_version("2017-10-01-000000", joined=True)
    initial = parse_version("00000000000000", joined=True)
    assert initial < july < dashed < october


def test_golang_migrate_numbers_ignore_leading_zeros() -> None:
    assert parse_version("000123", joined=True) == parse_version("123", joined=True)
    assert parse_version("000123", joined=True) < parse_version("1481574547", joined=True)


def test_sorting_versions_orders_them_as_numbers() -> None:
    texts = ["1.10", "1.9", "1.4.0", "1.2.10", "1.2.9", "10", "2.0.1", "1.4.1"]
    ordered = [str(v) for v in sorted(parse_version(t) for t in texts)]
    assert ordered == ["1.2.9", "1.2.10", "1.4.0", "1.4.1", "1.9", "1.10", "2.0.1", "10"]


@pytest.mark.parametrize(
    ("typed", "written", "joined"),
    [
        ("2017-09-23-123456", "20170923123456", True),
        ("20170923123456", "2017-09-23-123456", True),
        ("1.4", "1.4.0", False),
        ("123", "000123", False),
    ],
)
def test_a_version_a_user_types_matches_either_spelling(
    typed: str, written: str, joined: bool
) -> None:
    assert version_from_user(typed) == parse_version(written, joined=joined)


# ---------------------------------------------------------------------------------------
# checksums

SCRIPT = "CREATE TABLE users (\n    id bigint PRIMARY KEY,\n    email text\n);\n\nSELECT 1;"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("trailing", [True, False])
def test_checksum_ignores_line_endings_and_one_trailing_newline(
    ending: str, trailing: bool
) -> None:
    text = SCRIPT.replace("\n", ending) + (ending if trailing else "")
    assert checksum_text(text) == checksum_text(SCRIPT)


def test_checksum_of_a_script_is_sha256_of_its_lf_text_without_trailing_newline() -> None:
    import hashlib

    assert checksum_text(SCRIPT + "\r\n") == hashlib.sha256(SCRIPT.encode()).hexdigest()


def test_an_inner_blank_line_changes_the_checksum() -> None:
    assert checksum_text(SCRIPT.replace(");\n", ");\n\n")) != checksum_text(SCRIPT)
    assert checksum_text("SELECT 1;\n\nSELECT 2;\n") != checksum_text("SELECT 1;\nSELECT 2;\n")


def test_only_one_trailing_newline_is_ignored() -> None:
    assert checksum_text("SELECT 1;\n\n") != checksum_text("SELECT 1;\n")
    assert checksum_text("SELECT 1;\r\n\r\n") == checksum_text("SELECT 1;\n\n")


def test_other_whitespace_still_counts() -> None:
    assert checksum_text("SELECT 1; \n") != checksum_text("SELECT 1;\n")
    assert checksum_text("SELECT\t1;") != checksum_text("SELECT 1;")


def every_split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_checksum_over_chunks_split_at_every_byte_equals_the_whole(ending: bytes) -> None:
    data = SCRIPT.encode().replace(b"\n", ending) + ending
    whole = checksum_chunks([data])
    for size in (1, 2, 3, 7):
        assert checksum_chunks(every_split(data, size)) == whole
    assert whole == checksum_text(SCRIPT)


def test_checksum_over_random_chunks_with_empty_ones_equals_the_whole() -> None:
    rng = random.Random(20240102)
    pieces = ["a", "é", " ", ";", "\n", "\r", "\r\n", "\n\n", "--"]
    for _ in range(300):
        data = "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 40))).encode()
        cuts = sorted(rng.randrange(0, len(data) + 1) for _ in range(rng.randrange(0, 6)))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert checksum_chunks(chunks) == checksum_chunks([data]), (data, chunks)


def test_a_crlf_pair_split_across_chunks_is_one_line_ending() -> None:
    assert checksum_chunks([b"SELECT 1;\r", b"\nSELECT 2;\r", b"\n"]) == checksum_text(
        "SELECT 1;\nSELECT 2;"
    )


def test_checksum_text_is_over_utf8() -> None:
    text = "COMMENT ON TABLE users IS 'Ünïcødé';\n"
    assert checksum_text(text) == checksum_chunks([text.encode("utf-8")])


# ---------------------------------------------------------------------------------------
# markers sections


def test_goose_sections_start_on_the_line_after_their_marker() -> None:
    text = "-- +goose Up\nCREATE TABLE t (a int);\n\n-- +goose Down\nDROP TABLE t;\n"
    sections = split_markers(text)
    assert sections["up"].text == "CREATE TABLE t (a int);\n\n"
    assert (sections["up"].first_line, sections["down"].first_line) == (2, 5)
    assert sections["down"].text == "DROP TABLE t;\n"


def test_a_form_feed_or_line_separator_is_not_a_line_break_for_sections() -> None:
    text = "-- +goose Up\nSELECT 1;\f\nSELECT '\u2028';\n-- +goose Down\nSELECT 2;\n"
    assert split_markers(text)["down"].first_line == 5


def test_goose_no_transaction_applies_to_both_halves() -> None:
    text = (
        "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
        "-- +goose Down\nDROP INDEX CONCURRENTLY i;\n"
    )
    sections = split_markers(text)
    assert sections["up"].no_transaction and sections["down"].no_transaction


def test_dbmate_transaction_false_applies_to_its_own_half() -> None:
    text = (
        "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
        "-- migrate:down\nDROP INDEX i;\n"
    )
    sections = split_markers(text)
    assert sections["up"].no_transaction and not sections["down"].no_transaction


def test_goose_statement_blocks_stay_inside_their_section() -> None:
    text = (
        "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$\n"
        "BEGIN RETURN 1; END;\n$$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n"
        "-- +goose Down\nDROP FUNCTION f();\n"
    )
    sections = split_markers(text)
    assert "$$ LANGUAGE plpgsql;\n-- +goose StatementEnd\n" in sections["up"].text
    assert sections["down"].text == "DROP FUNCTION f();\n"
    assert not sections["up"].no_transaction


def test_a_file_without_a_down_marker_has_no_down_section() -> None:
    assert set(split_markers("-- migrate:up\nSELECT 1;\n")) == {"up"}
