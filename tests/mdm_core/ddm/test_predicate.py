"""Activation predicates read as a phone reads them: Apple's format-string grammar, bounded."""
import time

import pytest

from mdm_core.ddm.predicate import MAX_DEPTH, MAX_TOKENS, PredicateError, evaluate, parse, sources

FACTS = {"device.model.family": "iPhone", "device.operating-system.version": "17.5", "passcode.is-compliant": True}
PROPERTIES = {"team": "sales", "seats": 3, "tags": ["a", "b"], "name": "Émile"}


@pytest.mark.parametrize(("text", "expected"), [
    ("TRUEPREDICATE", True), ("falsepredicate", False),
    ("@status(device.model.family) = 'iPhone'", True),
    ("@status(device.model.family) <> \"iPhone\"", False),
    ("@status(device.operating-system.version) >= '17.2'", True),
    ("@status(device.operating-system.version) => '17.6'", False),
    ("@status(passcode.is-compliant) == YES && @property(team) == 'sales'", True),
    ("NOT (@status(device.model.family) == 'iPad') AND !(@property(seats) < 2)", True),
    ("@status(device.model.family) IN {'iPad', 'iPhone'}", True),
    ("@property(seats) BETWEEN {1, 0x2}", False),
    ("@status(device.model.family) LIKE[c] 'iph?ne'", True),
    ("@property(name) ==[cd] 'emile'", True),
    ("@property(name) MATCHES 'É.*e'", True),
    ("ANY @property(tags) == 'b'", True), ("ALL @property(tags) == 'b'", False), ("NONE @property(tags) == 'c'", True),
    ("(@property(seats) + 1) * 2 ** 2 == 16", True),
    ("@property(tags)[SIZE] == 2 AND @property(tags)[LAST] ENDSWITH 'b'", True),
    ("SUBQUERY(@property(tags), $tag, $tag BEGINSWITH 'a')[SIZE] == 1", True),
    ("count:(@property(tags)) == 2", True),
    ("@property(missing) == nil", True),
    ("@property(team) CONTAINS 'ale' OR FALSEPREDICATE", True),
])
def test_a_predicate_is_read_and_decided_as_a_phone_decides_it(text, expected):
    assert evaluate(parse(text), FACTS, PROPERTIES) is expected


@pytest.mark.parametrize(("text", "named"), [
    ("((((", "at its end"),
    ("@status(device.model.family) ==", "expected a value at its end"),
    ("@status(device.model.family) == 'iPhone' AND", "expected a value at its end"),
    ("@status(device.model.family)", "expected a comparison operator"),
    ("@status(a) == 'unterminated", "character 15"),
    ("@stat(a) == 1", "character 1"),
    ("a === b", "character 5"),
    ("(1 == 1) + 1", "a predicate where a value belongs"),
    ("@status(a) == (1 == 1)", "a predicate cannot be compared"),
    ("%@ == 1", "character 1"),
    ("a == b c", "unexpected text after the predicate"),
    ("SUBQUERY(@property(tags), tag, 1 == 1)[SIZE] > 0", "expected a $variable"),
])
def test_a_predicate_no_phone_can_read_is_refused_saying_where(text, named):
    with pytest.raises(PredicateError, match=named.replace("$", r"\$").replace("(", r"\(")):
        parse(text)


def test_reading_is_bounded_by_the_text_and_its_nesting():
    assert parse("(" * (MAX_DEPTH - 1) + "TRUEPREDICATE" + ")" * (MAX_DEPTH - 1))
    with pytest.raises(PredicateError, match="nested more than"):
        parse("(" * (MAX_DEPTH + 1) + "TRUEPREDICATE" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(PredicateError, match=f"more than {MAX_TOKENS}"):
        parse(" OR ".join(["1 == 1"] * 100))
    started = time.process_time()
    for hostile in ("(" * 4000, "-" * 4000 + "1", "{" * 4000, "@status(a) == " * 300):
        with pytest.raises(PredicateError):
            parse(hostile)
    assert time.process_time() - started < 1.0, "each is refused after reading a bounded prefix"


def test_a_long_chain_is_flat_and_decided_without_deep_recursion():
    chain = " OR ".join(["@property(seats) == 9"] * 60 + ["@property(seats) == 3"])
    assert evaluate(parse(chain), FACTS, PROPERTIES) is True
    assert evaluate(parse("+".join(["1"] * 120) + " == 120"), FACTS, PROPERTIES) is True


def test_the_sources_a_predicate_reads_are_named_once_each():
    tree = parse("@status(device.model.family) == 'iPad' OR (@property(team) == 'x' AND @property(team) != 'y')")
    assert sources(tree) == [("property", "team"), ("status", "device.model.family")]
