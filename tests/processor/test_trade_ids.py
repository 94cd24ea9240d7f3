"""The compact id set of a 1m bar answers exactly as a set of strings would, in any arrival order,
for decimal ids (kept as runs), ids that only look like numbers, and any other id."""

from __future__ import annotations

import random

import pytest

from services.processor.trade_ids import TradeIds, decimal_id


@pytest.mark.parametrize(("text", "number"), [
    ("0", 0), ("7", 7), ("123456789012345678", 123456789012345678),
    ("007", None), ("1234567890123456789", None), ("-5", None), ("1e3", None), ("²", None), ("", None),
    ("0f8fad5b-d9cb-469f-a165-70867728950e", None),
])
def test_only_ids_that_a_number_gives_back_are_numbers(text: str, number: int | None) -> None:
    assert decimal_id(text) == number


def test_it_answers_as_a_set_of_strings_in_any_order() -> None:
    rng = random.Random(7)
    ids = [str(n) for n in range(1000, 1400)] + [str(n) for n in range(5000, 9000, 3)]
    ids += ["007", "07", "7", "0", "99999999999999999999", "abc", "0f8fad5b-d9cb-469f-a165-70867728950e",
            "0F8FAD5B-D9CB-469F-A165-70867728950E", "0f8fad5bd9cb469fa16570867728950e",
            str(0x0f8fad5bd9cb469fa16570867728950e)]  # the same 128 bits, other texts: other ids
    stream = ids * 2 + rng.sample(ids, 300)  # every id again, and again
    rng.shuffle(stream)
    held, plain = TradeIds(), set[str]()
    for trade_id in stream:
        assert held.add(trade_id) == (trade_id not in plain), trade_id
        plain.add(trade_id)
        assert trade_id in held
    assert len(held) == len(plain) == len(ids)
    assert all(str(n) not in held for n in (999, 1400, 5001, 8998, 9002))


def test_consecutive_ids_become_one_run_whatever_the_order() -> None:
    held = TradeIds()
    numbers = list(range(10, 60))
    random.Random(3).shuffle(numbers)
    for number in numbers:
        assert held.add(str(number))
    assert len(held) == 50
    assert (list(held._starts), list(held._ends)) == ([10], [59])
