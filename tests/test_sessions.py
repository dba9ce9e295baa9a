from datetime import date

import numpy as np

from tapeflow.core.sessions import label_sessions, session_for_date, session_of, trading_date_of
from tapeflow.core.timeutil import iso_to_ns, ns_to_iso


def test_session_opens_previous_evening_at_18_et_in_winter_and_summer():
    winter = session_for_date(date(2024, 1, 16))
    assert ns_to_iso(winter.eth_open_ns) == "2024-01-15T23:00:00.000000000Z"  # EST = UTC-5
    assert ns_to_iso(winter.rth_open_ns) == "2024-01-16T14:30:00.000000000Z"
    summer = session_for_date(date(2024, 7, 2))
    assert ns_to_iso(summer.eth_open_ns) == "2024-07-01T22:00:00.000000000Z"  # EDT = UTC-4
    assert ns_to_iso(summer.eth_close_ns) == "2024-07-02T21:00:00.000000000Z"


def test_dst_change_weekend_sunday_open_is_already_edt():
    # DST began Sunday 2024-03-10 02:00 ET; Sunday 18:00 ET is EDT (UTC-4).
    monday = session_for_date(date(2024, 3, 11))
    assert ns_to_iso(monday.eth_open_ns) == "2024-03-10T22:00:00.000000000Z"
    friday = session_for_date(date(2024, 3, 8))
    assert ns_to_iso(friday.eth_open_ns) == "2024-03-07T23:00:00.000000000Z"
    # The fall change: Sunday 2024-11-03 18:00 ET is EST again (UTC-5).
    assert ns_to_iso(session_for_date(date(2024, 11, 4)).eth_open_ns) == "2024-11-03T23:00:00.000000000Z"


def test_evening_trades_belong_to_the_next_trading_date():
    ts = iso_to_ns("2024-07-01T23:58:01.218218853Z")  # 19:58 ET on Monday
    assert trading_date_of(ts) == date(2024, 7, 2)
    assert session_of(ts).is_rth(ts) is False
    friday_evening = iso_to_ns("2024-07-05T22:30:00Z")  # Friday 18:30 ET: weekend, next is Monday
    assert trading_date_of(friday_evening) == date(2024, 7, 8)


def test_label_sessions_marks_rth_halt_and_session_index():
    ts = np.array(
        [
            iso_to_ns("2024-07-01T22:00:00Z"),  # 18:00 ET Mon: opens Tue session
            iso_to_ns("2024-07-02T13:29:59.999999999Z"),  # 09:29:59.999 ET: ETH
            iso_to_ns("2024-07-02T13:30:00Z"),  # 09:30 ET: RTH
            iso_to_ns("2024-07-02T19:59:59Z"),  # 15:59:59 ET: RTH
            iso_to_ns("2024-07-02T20:00:00Z"),  # 16:00 ET: ETH again
            iso_to_ns("2024-07-02T21:30:00Z"),  # 17:30 ET: daily halt
            iso_to_ns("2024-07-02T22:00:00Z"),  # 18:00 ET: Wed session
        ]
    )
    lab = label_sessions(ts)
    assert lab.rth.tolist() == [False, False, True, True, False, False, False]
    assert lab.index.tolist() == [0, 0, 0, 0, 0, -1, 1]
    assert [s.trading_date for s in lab.sessions] == [date(2024, 7, 2), date(2024, 7, 3)]


def test_iso_round_trip_keeps_nanoseconds():
    assert ns_to_iso(iso_to_ns("2024-07-01T23:58:01.218218853Z")) == "2024-07-01T23:58:01.218218853Z"
    assert iso_to_ns("2024-07-01 23:58:01") == iso_to_ns("2024-07-01T23:58:01+00:00")


def test_labels_for_a_batch_entirely_inside_the_halt_are_all_minus_one():
    halt = iso_to_ns("2024-07-02T21:30:00Z")  # 17:30 ET
    lab = label_sessions(np.array([halt, halt + 1]))
    assert lab.index.tolist() == [-1, -1] and lab.rth.tolist() == [False, False]
