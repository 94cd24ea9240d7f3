"""JSON log lines: the line's own fields stay, whatever a caller passes in `extra`."""
from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter


def test_an_extra_field_named_like_a_lines_own_is_kept_beside_it() -> None:
    record = logging.LogRecord("leaderboard", logging.INFO, __file__, 1, "ranked", None, None)
    record.ts, record.tracked = 1_796_313_812_924_318, 717
    line = json.loads(JsonFormatter("processor").format(record))
    assert line["ts"].endswith("Z") and line["ts"][:4].isdigit()  # the line's time, ISO 8601
    assert (line["extra_ts"], line["tracked"], line["msg"]) == (1_796_313_812_924_318, 717, "ranked")
