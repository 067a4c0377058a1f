"""Issue 22 point 3, the notifier's part, through `run`: a notification that cannot be delivered is not
lost. The file is loaded once; `run` says the notification was not sent; the next `run` sends it,
once, without loading anything again."""

import pytest

from quality_movies_tests.reliability.conftest import (
    Home,
    assert_no_traceback,
    assert_rows_accounted,
    brief,
)
from quality_movies_tests.reliability.inputs import good_file

pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("reliability")]


def test_a_notification_the_notifier_refused_is_sent_by_the_next_run(home: Home):
    movies = good_file("movies.csv")
    home.drop({movies.name: movies.content})
    outbox = home.path / "outbox.jsonl"
    outbox.mkdir(parents=True)  # the local notifier cannot append: as SNS refusing to publish

    done = home.cli("run")
    assert_no_traceback(done)
    assert "notification not sent" in done.stderr, brief(done)
    assert_rows_accounted(home, movies.name, movies.rows, movies.good)

    status = home.cli("status")
    assert "(notification not sent yet" in status.stdout, brief(status)
    outbox.rmdir()
    again = home.cli("run")
    assert again.returncode == 0, brief(again)
    assert "nothing to do" in again.stdout, brief(again)
    assert [n["subject"] for n in home.notifications_for(movies.name)] == [
        f"quality_movies succeeded: {movies.name}"
    ]
    [note] = home.notifications_for(movies.name)
    assert note["message"]["rows_loaded"] == movies.good
    assert_rows_accounted(home, movies.name, movies.rows, movies.good)
    third = home.cli("run")
    assert len(home.notifications_for(movies.name)) == 1, brief(third)
