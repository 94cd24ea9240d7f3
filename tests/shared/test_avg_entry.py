"""Average entry and PnL, on the worked examples of docs/portfolio.md (venue-facts.md section 7)."""
from __future__ import annotations

from decimal import Decimal as D

from shared.avg_entry import Trade, pnl_pct, replay, unrealized

WORKED = [Trade("buy", D(1800), D(2)), Trade("buy", D(2400), D(3))]


def test_buys_average_to_2160_and_a_sale_realizes_440_under_average_cost() -> None:
    bought = replay(WORKED)
    assert bought.avg_entry == D(2160) and bought.quantity == D(5)
    sold = replay([*WORKED, Trade("sell", D(2600), D(1))])
    assert sold.realized == D(440)
    assert sold.avg_entry == D(2160) and sold.quantity == D(4)  # sells do not move the average


def test_the_same_sale_realizes_800_under_fifo() -> None:
    sold = replay([*WORKED, Trade("sell", D(2600), D(1))], "fifo")
    assert sold.realized == D(800)
    assert sold.quantity == D(4)
    assert sold.avg_entry == (D(1800) + 3 * D(2400)) / 4  # 1 left at 1800, 3 at 2400: 2250


def test_fifo_and_average_agree_once_everything_is_closed() -> None:
    trades = [*WORKED, Trade("sell", D(2600), D(5))]
    assert replay(trades).realized == replay(trades, "fifo").realized == D(2200)  # 5 x 2600 - 10800


def test_a_fee_in_base_reduces_the_quantity_and_the_cost_keeps_the_quote_paid() -> None:
    # $1000 buys 0.0625 BTC at 16000, 0.000625 BTC of it is the fee: 0.061875 BTC held, basis $1000
    book = replay([Trade("buy", D(16000), D("0.0625"), D("0.000625"), "base")])
    assert book.quantity == D("0.061875")
    assert book.cost == D(1000)
    assert book.avg_entry == D(1000) / D("0.061875")
    assert book.realized == 0


def test_a_fee_in_quote_is_taken_from_the_realized_pnl() -> None:
    book = replay([Trade("buy", D(100), D(1), D("0.1")), Trade("sell", D(110), D(1), D("0.11"))])
    assert book.realized == D("9.79") and book.fees == D("0.21") and book.quantity == 0


def test_a_partial_close_realizes_its_part_and_keeps_the_entry() -> None:
    book = replay([Trade("buy", D(100), D(4)), Trade("sell", D(90), D(1))])
    assert book.realized == D(-10) and book.quantity == D(3) and book.avg_entry == D(100)
    assert unrealized(book, D(120)) == D(60)
    assert pnl_pct(book, D(120)) == D(20)


def test_a_flip_closes_then_opens_the_rest_at_the_fill_price() -> None:
    for method in ("average", "fifo"):
        book = replay([Trade("buy", D(100), D(2)), Trade("sell", D(130), D(5))], method)
        assert book.realized == D(60), method
        assert book.quantity == D(-3) and book.avg_entry == D(130), method
        assert unrealized(book, D(120)) == D(30)  # a short gains as the price falls
        assert pnl_pct(book, D(120)) == D("7.6923")  # 30 / 390, in percent to four places


def test_a_short_averages_its_sells_and_buys_close_it() -> None:
    book = replay([Trade("sell", D(200), D(1)), Trade("sell", D(100), D(1)), Trade("buy", D(120), D(1))])
    assert book.realized == D(30) and book.quantity == D(-1) and book.avg_entry == D(150)


def test_a_position_closed_and_reopened_starts_fresh() -> None:
    book = replay([Trade("buy", D(100), D(1)), Trade("sell", D(150), D(1)), Trade("buy", D(300), D(2))])
    assert book.realized == D(50)
    assert book.avg_entry == D(300) and book.quantity == D(2)
    assert pnl_pct(replay([Trade("buy", D(1), D(1)), Trade("sell", D(1), D(1))]), D(2)) is None


def test_spot_cannot_go_short_and_counts_what_was_sold_beyond_its_holdings() -> None:
    book = replay([Trade("buy", D(100), D(1)), Trade("sell", D(120), D(3))], can_short=False)
    assert book.quantity == 0 and book.realized == D(20) and book.unmatched == D(2)
