"""The server's background tracking: each deal dataset tracked (one failing no longer stops
all), and a failed run's whole error said, not the fragment its console wrapped onto the last
line."""

from __future__ import annotations

from serving.tracking import last_message


def test_an_error_wrapped_over_lines_is_said_whole():
    text = (
        "tracking 2 datasets\n"
        "error: the store holds several opportunities datasets ['a', 'b']: name one (--dataset\n"
        "NAME on the command line, ?dataset= in the API)"
    )
    assert last_message(text) == (
        "error: the store holds several opportunities datasets ['a', 'b']: name one (--dataset "
        "NAME on the command line, ?dataset= in the API)"
    )


def test_output_without_an_error_gives_its_last_line():
    assert last_message("fitting\ntracked 2024-Q3 as of 2024-07-01") == (
        "tracked 2024-Q3 as of 2024-07-01"
    )


def test_the_scheduled_run_tracks_each_deal_dataset_unless_a_default_is_set(tmp_path):
    from forecast.settings import Settings
    from serving.tracking import commands

    every = commands(Settings(state_dir=tmp_path), ["a", "b"])
    assert [cmd[-2:] for cmd in every] == [["--dataset", "a"], ["--dataset", "b"]]
    chosen = commands(Settings(state_dir=tmp_path, deal_dataset="b"), ["a", "b"])
    assert [cmd[-2:] for cmd in chosen] == [["--dataset", "b"]]
    assert commands(Settings(state_dir=tmp_path), [])[0][-1] == "track"  # it says there is none
