"""Module discussions (issue 13 point 6): threads and replies per module within a cohort,
a reply notifies the thread's other participants, the author edits their own post (a
conditional write), the cohort's staff mark an answer, pin, lock and hide with a reason
(each in the moderation log); hidden posts for staff only; a locked thread refuses
replies; another cohort's people get 404; pages run a fixed number of statements."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lms.catalog.models import Module
from lms.database import utcnow
from lms.discussions import services
from lms.discussions.models import Moderation, ModerationAction, Post, Thread
from lms.discussions.moderation import MODERATORS
from lms.extensions import db
from lms.notifications.models import Channel, Notification, NotificationEvent
from lms.notifications.services import set_preferences, unread_count


def link(post: Post) -> str:
    return f"/threads/{post.thread_id}#post-{post.id}"


@pytest.fixture()
def setting(loaded, world, enrol_learner):
    """Cohort A's MLOps discussions: learner A's thread; a classmate."""
    mlops = db.session.scalar(select(Module).where(Module.key == "mlops"))
    classmate = enrol_learner(world.cohort_a, name="Classmate C")
    thread = services.start_thread(db.session, world.cohort_a, mlops, world.learner_a, "How often to retrain?",
                                   "Our model *drifts*.", utcnow(), link)
    db.session.commit()
    return world, mlops, classmate, thread


def opening_of(thread: Thread) -> Post:
    return db.session.scalar(select(Post).where(Post.thread_id == thread.id, Post.opening.is_(True)))


def test_a_reply_notifies_the_threads_other_participants(setting) -> None:
    world, _, classmate, thread = setting
    first = services.reply(db.session, thread, classmate, "Weekly, for us.", utcnow(), link)
    second = services.reply(db.session, thread, world.instructor_a, "Watch the drift metric.", utcnow(), link)
    db.session.commit()
    rows = [(n.user_id, n.key, n.event) for n in db.session.scalars(
        select(Notification).where(Notification.event == NotificationEvent.DISCUSSION_REPLY).order_by(Notification.id))]
    assert rows == [
        (world.learner_a.id, f"discussion-post:{first.id}", NotificationEvent.DISCUSSION_REPLY),
        (world.learner_a.id, f"discussion-post:{second.id}", NotificationEvent.DISCUSSION_REPLY),
        (classmate.id, f"discussion-post:{second.id}", NotificationEvent.DISCUSSION_REPLY),
    ]
    note = db.session.scalar(select(Notification).where(Notification.key == f"discussion-post:{second.id}",
                                                        Notification.user_id == classmate.id))
    assert note.title == "Instructor A replied in “How often to retrain?”" and note.link == link(second)


def test_a_participant_who_switched_replies_off_is_not_notified(setting) -> None:
    world, _, classmate, thread = setting
    set_preferences(db.session, world.learner_a.id, {NotificationEvent.DISCUSSION_REPLY: Channel.OFF})
    services.reply(db.session, thread, classmate, "Me too.", utcnow(), link)
    db.session.commit()
    assert db.session.scalar(select(Notification).where(Notification.event == NotificationEvent.DISCUSSION_REPLY)) is None


def test_a_new_thread_notifies_the_cohorts_instructors(setting, make_user) -> None:
    """A learner's question in their cohort's discussions reached nobody: replies notified
    the thread's participants, a new thread no one, so it waited until an instructor
    happened to open the module's page. Now the cohort's instructors are told, once each
    (the author aside, a deactivated instructor not), linked to the opening post."""
    world, mlops, classmate, thread = setting
    gone = make_user(name="Gone Instructor")
    gone.deactivated_at = utcnow()
    world.cohort_a.instructors.append(gone)
    db.session.commit()
    question = services.start_thread(db.session, world.cohort_a, mlops, classmate, "Counting rollbacks",
                                     "Does a rollback count as a **failed** release?", utcnow(), link)
    services.start_thread(db.session, world.cohort_a, mlops, world.instructor_a, "Office hours", "Fridays.", utcnow(), link)
    db.session.commit()
    opening = opening_of(question)
    rows = [(n.user_id, n.key, n.title, n.body, n.link) for n in db.session.scalars(
        select(Notification).where(Notification.event == NotificationEvent.DISCUSSION_THREAD).order_by(Notification.id))]
    assert (world.instructor_a.id, f"discussion-post:{opening.id}",
            f"Classmate C started a thread in {mlops.title}: “Counting rollbacks”",
            "Does a rollback count as a failed release?", link(opening)) in rows
    assert {uid for uid, *_ in rows} == {world.instructor_a.id}  # not the deactivated one, nor the author of their own
    assert len(rows) == 2  # learner A's thread (the fixture's) and Classmate C's; none for the instructor's own
    services.edit_post(db.session, opening, classmate, "Or a **partial** one?", "Counting partial rollbacks", 1, utcnow())
    db.session.commit()
    note = db.session.scalar(select(Notification).where(Notification.key == f"discussion-post:{opening.id}"))
    assert (note.title, note.body) == (f"Classmate C started a thread in {mlops.title}: “Counting partial rollbacks”",
                                       "Or a partial one?")


def test_answering_a_thread_marks_ones_own_notices_of_it_read(setting) -> None:
    """An instructor answered a learner's question and the notice of it stayed unread in
    their notification centre (and its count) as if still waiting for them; the inbox marks
    a conversation read on a reply, the discussions did not. Now a reply marks its author's
    notices of the thread's earlier posts read, and nobody else's, nor another thread's; so
    does a moderation action, for its moderator."""
    world, mlops, classmate, thread = setting
    other = services.start_thread(db.session, world.cohort_a, mlops, classmate, "Another question", "Hm?", utcnow(), link)
    services.reply(db.session, thread, classmate, "Weekly, for us.", utcnow(), link)
    db.session.commit()
    assert unread_count(db.session, world.instructor_a.id) == 2  # the two new threads
    assert unread_count(db.session, world.learner_a.id) == 1  # the classmate's reply
    services.reply(db.session, thread, world.instructor_a, "Watch the drift metric.", utcnow(), link)
    db.session.commit()
    unread = db.session.scalars(select(Notification.key).where(Notification.user_id == world.instructor_a.id,
                                                               Notification.read_at.is_(None))).all()
    assert unread == [f"discussion-post:{opening_of(other).id}"]  # the other thread still waits
    assert unread_count(db.session, world.learner_a.id) == 2  # the classmate's reply and the instructor's: unread
    thanks = services.reply(db.session, thread, world.learner_a, "Thanks both.", utcnow(), link)
    db.session.commit()
    assert unread_count(db.session, world.learner_a.id) == 0
    # hiding the other thread (say, a duplicate) deals with it too: the moderator's notice is read
    services.moderate(db.session, world.instructor_a, ModerationAction.HIDE_THREAD, other, None, "A duplicate", utcnow())
    db.session.commit()
    unread = db.session.scalars(select(Notification.key).where(Notification.user_id == world.instructor_a.id,
                                                               Notification.read_at.is_(None))).all()
    assert unread == [f"discussion-post:{thanks.id}"]  # the learner's thanks, after the instructor's answer: news


def waiting_line(client, cohort) -> str:
    html = client.get("/home").get_data(as_text=True)
    section = html.split(f'id="today-cohort-{cohort.id}"')[1].split("</div>")[0]
    found = re.search(r'<p class="threads-waiting">(.*?)</p>', section, re.S)
    return " ".join(found.group(1).split()) if found else ""


def test_the_instructors_home_and_the_discussions_count_threads_waiting_for_a_reply(setting, client, login) -> None:
    """A learner's question was told to the instructors once, by a notice; read or not, it
    then waited among the modules' pages with nothing on the instructor's home or the
    discussions' list saying a question was unanswered. Now both count the threads waiting
    for a reply: a learner's, open, with no visible reply by anyone but its author. One links
    itself; several, the cohort's discussions."""
    world, mlops, classmate, thread = setting
    login(client, world.instructor_a)
    assert waiting_line(client, world.cohort_a) == f'<a href="/threads/{thread.id}">1 discussion thread waiting for a reply</a>'
    second = services.start_thread(db.session, world.cohort_a, mlops, classmate, "Rollbacks?", "Count them?", utcnow(), link)
    services.start_thread(db.session, world.cohort_a, mlops, world.instructor_a, "Office hours", "Fridays.", utcnow(), link)
    services.reply(db.session, thread, world.learner_a, "Anyone?", utcnow(), link)  # the author's own: still waiting
    db.session.commit()
    assert waiting_line(client, world.cohort_a) == (f'<a href="/cohorts/{world.cohort_a.id}/discussions">'
                                                    "2 discussion threads waiting for a reply</a>")
    listing = client.get(f"/cohorts/{world.cohort_a.id}/discussions").get_data(as_text=True)
    assert '<span class="tag">2 waiting for a reply</span>' in listing
    services.reply(db.session, thread, classmate, "Weekly, for us.", utcnow(), link)  # a classmate answers
    services.moderate(db.session, world.instructor_a, ModerationAction.LOCK, second, None, "", utcnow())
    db.session.commit()
    assert waiting_line(client, world.cohort_a) == ""
    assert "waiting for a reply" not in client.get(f"/cohorts/{world.cohort_a.id}/discussions").get_data(as_text=True)


def test_learners_start_threads_and_reply_through_the_pages(setting, client, login) -> None:
    world, _, classmate, thread = setting
    login(client, classmate)
    base = f"/cohorts/{world.cohort_a.id}/discussions/mlops"
    assert "How often to retrain?" in client.get(base).get_data(as_text=True)
    bad = client.post(base, data={"title": "", "body": ""})
    assert bad.status_code == 400 and "Give the thread a title." in bad.get_data(as_text=True)
    made = client.post(base, data={"title": "Feature store?", "body": "Which one <script>alert(1)</script>**fast**"})
    assert made.status_code == 302
    new = db.session.scalar(select(Thread).where(Thread.title == "Feature store?"))
    page = client.get(f"/threads/{new.id}").get_data(as_text=True)
    assert "<strong>fast</strong>" in page and "<script>alert" not in page
    replied = client.post(f"/threads/{thread.id}", data={"body": "We retrain **monthly**."})
    assert replied.status_code == 302 and "#post-" in replied.headers["Location"]
    assert "<strong>monthly</strong>" in client.get(f"/threads/{thread.id}").get_data(as_text=True)
    index = client.get(f"/cohorts/{world.cohort_a.id}/discussions").get_data(as_text=True)
    assert "Customer success" in index or "customer-success" in index
    assert client.post(f"/threads/{thread.id}", data={"body": "   "}).status_code == 400


def test_module_page_links_the_discussions_of_ones_cohort(setting, client, login) -> None:
    world, _, _, _ = setting
    login(client, world.learner_a)
    page = client.get("/modules/mlops").get_data(as_text=True)
    assert "/discussions?module=mlops" in page
    assert client.get("/discussions?module=mlops").headers["Location"].endswith(
        f"/cohorts/{world.cohort_a.id}/discussions/mlops")
    assert f"/cohorts/{world.cohort_a.id}/discussions" in client.get("/home").get_data(as_text=True)
    assert client.get("/discussions").headers["Location"].endswith(f"/cohorts/{world.cohort_a.id}/discussions")
    client.post("/logout")
    login(client, world.org_admin_a)  # two cohorts in the organization: a choice
    choice = client.get("/discussions?module=mlops").get_data(as_text=True)
    assert f"/cohorts/{world.cohort_a.id}/discussions/mlops" in choice and f"/cohorts/{world.cohort_a2.id}/discussions/mlops" in choice


def test_a_locked_thread_refuses_replies_with_a_message(setting, client, login) -> None:
    world, _, classmate, thread = setting
    services.moderate(db.session, world.instructor_a, ModerationAction.LOCK, thread, None, "Settled.", utcnow())
    db.session.commit()
    with pytest.raises(services.DiscussionError, match="locked"):
        services.reply(db.session, thread, classmate, "One more thing", utcnow(), link)
    db.session.rollback()
    login(client, classmate)
    page = client.get(f"/threads/{thread.id}").get_data(as_text=True)
    assert "This thread is locked: it takes no new replies." in page and 'name="body"' not in page
    refused = client.post(f"/threads/{thread.id}", data={"body": "Still?"})
    assert refused.status_code == 409 and "This thread is locked" in refused.get_data(as_text=True)
    assert db.session.scalar(select(Post).where(Post.body == "Still?")) is None


def test_staff_mark_one_answer_pin_and_the_list_shows_it(setting, client, login) -> None:
    world, mlops, classmate, thread = setting
    a = services.reply(db.session, thread, classmate, "Answer A", utcnow(), link)
    b = services.reply(db.session, thread, world.instructor_a, "Answer B", utcnow(), link)
    other = services.start_thread(db.session, world.cohort_a, mlops, classmate, "Later thread", "x", utcnow(), link)
    db.session.commit()
    login(client, world.instructor_a)
    assert client.post(f"/posts/{a.id}/moderate", data={"action": "mark_answer"}).status_code == 302
    assert client.post(f"/posts/{b.id}/moderate", data={"action": "mark_answer"}).status_code == 302
    db.session.expire_all()
    assert [p.id for p in db.session.scalars(select(Post).where(Post.is_answer.is_(True)))] == [b.id]
    again = client.post(f"/posts/{b.id}/moderate", data={"action": "mark_answer"})
    assert again.status_code == 400 and "already the answer" in again.get_data(as_text=True)
    opening = client.post(f"/posts/{opening_of(thread).id}/moderate", data={"action": "mark_answer"})
    assert opening.status_code == 400 and "cannot be its answer" in opening.get_data(as_text=True)
    # the later thread is on top until the first is pinned
    rows = services.module_threads(db.session, world.cohort_a, mlops, staff=False)
    assert [r.thread.id for r in rows] == [other.id, thread.id]
    assert client.post(f"/threads/{thread.id}/moderate", data={"action": "pin"}).status_code == 302
    rows = services.module_threads(db.session, world.cohort_a, mlops, staff=False)
    assert [(r.thread.id, r.replies, r.answered) for r in rows] == [(thread.id, 2, True), (other.id, 0, False)]
    client.post("/logout")
    login(client, classmate)
    text = client.get(f"/cohorts/{world.cohort_a.id}/discussions/mlops").get_data(as_text=True)
    assert text.index("How often to retrain?") < text.index("Later thread") and "answered" in text and "pinned" in text
    assert client.post(f"/threads/{thread.id}/moderate", data={"action": "unpin"}).status_code == 403


def test_hiding_needs_a_reason_kept_in_the_log_and_hides_from_learners(setting, client, login) -> None:
    world, _, classmate, thread = setting
    rude = services.reply(db.session, thread, classmate, "Something rude", utcnow(), link)
    db.session.commit()
    login(client, world.instructor_a)
    no_reason = client.post(f"/posts/{rude.id}/moderate", data={"action": "hide_post", "reason": " "})
    assert no_reason.status_code == 400 and "Give a reason" in no_reason.get_data(as_text=True)
    assert client.post(f"/posts/{rude.id}/moderate", data={"action": "hide_post", "reason": "Off-topic insult"}).status_code == 302
    staff_view = client.get(f"/threads/{thread.id}").get_data(as_text=True)
    assert "Something rude" in staff_view and "Off-topic insult" in staff_view and "Moderation log" in staff_view
    client.post("/logout")
    login(client, world.learner_a)
    learner_view = client.get(f"/threads/{thread.id}").get_data(as_text=True)
    assert "Something rude" not in learner_view and "hidden by the cohort's staff" in learner_view
    assert "Off-topic insult" not in learner_view and "Moderation log" not in learner_view
    # the thread counts its replies as the module's list does: the hidden one for staff only
    listed = client.get(f"/cohorts/{thread.cohort_id}/discussions/{thread.module.key}").get_data(as_text=True)
    counted = re.search(r"<h2>(\d+) repl(?:y|ies)</h2>", learner_view)
    assert counted is not None and f"· {counted.group(1)} repl" in listed
    assert counted.group(1) == str(int(re.search(r"<h2>(\d+) repl", staff_view).group(1)) - 1)
    log = db.session.scalars(select(Moderation)).all()
    assert [(m.action, m.reason, m.actor_id, m.post_id) for m in log] == [
        (ModerationAction.HIDE_POST, "Off-topic insult", world.instructor_a.id, rude.id)]


def test_a_hidden_thread_is_not_found_for_learners_but_shown_to_staff(setting, client, login) -> None:
    world, mlops, _, thread = setting
    services.moderate(db.session, world.org_admin_a, ModerationAction.HIDE_THREAD, thread, None, "Duplicate", utcnow())
    db.session.commit()
    login(client, world.learner_a)
    assert client.get(f"/threads/{thread.id}").status_code == 404
    assert client.post(f"/threads/{thread.id}", data={"body": "x"}).status_code == 404
    assert "How often to retrain?" not in client.get(f"/cohorts/{world.cohort_a.id}/discussions/mlops").get_data(as_text=True)
    client.post("/logout")
    login(client, world.instructor_a)
    page = client.get(f"/threads/{thread.id}").get_data(as_text=True)
    assert "Duplicate" in page and "hidden" in page
    assert "How often to retrain?" in client.get(f"/cohorts/{world.cohort_a.id}/discussions/mlops").get_data(as_text=True)


def notices() -> list[tuple[int, str]]:
    """The replies' notices (the instructors' of new threads aside)."""
    return [(n.user_id, n.key) for n in db.session.scalars(
        select(Notification).where(Notification.event == NotificationEvent.DISCUSSION_REPLY).order_by(Notification.id))]


def test_hiding_a_reply_or_a_thread_takes_back_the_notices_it_made(setting, client, login) -> None:
    """A hidden reply's text is no longer shown (nor counted unread) in the participants'
    centres; a hidden thread's replies neither, since learners cannot open it."""
    world, mlops, classmate, thread = setting
    rude = services.reply(db.session, thread, classmate, "Something rude", utcnow(), link)
    fine = services.reply(db.session, thread, world.instructor_a, "Retrain on drift.", utcnow(), link)
    other = services.start_thread(db.session, world.cohort_a, mlops, classmate, "Other thread", "Hello", utcnow(), link)
    kept = services.reply(db.session, other, world.learner_a, "Hi back", utcnow(), link)
    db.session.commit()
    assert unread_count(db.session, world.learner_a.id) == 2
    login(client, world.instructor_a)
    assert client.post(f"/posts/{rude.id}/moderate", data={"action": "hide_post", "reason": "Insult"}).status_code == 302
    db.session.expire_all()
    assert notices() == [(world.learner_a.id, f"discussion-post:{fine.id}"), (classmate.id, f"discussion-post:{fine.id}"),
                         (classmate.id, f"discussion-post:{kept.id}")]
    assert unread_count(db.session, world.learner_a.id) == 1
    services.moderate(db.session, world.instructor_a, ModerationAction.HIDE_THREAD, thread, None, "Closed", utcnow())
    db.session.commit()
    assert notices() == [(classmate.id, f"discussion-post:{kept.id}")]  # the other thread's stays
    client.post("/logout")
    login(client, world.learner_a)
    centre = client.get("/notifications").get_data(as_text=True)
    assert "Something rude" not in centre and "Retrain on drift" not in centre


def test_an_edited_reply_s_notices_say_its_new_text(setting) -> None:
    world, _, classmate, thread = setting
    made = services.reply(db.session, thread, classmate, "Retrain montly.", utcnow(), link)
    db.session.commit()
    services.edit_post(db.session, made, classmate, "Retrain **monthly**.", None, 1, utcnow())
    db.session.commit()
    note = db.session.scalar(select(Notification).where(Notification.key == f"discussion-post:{made.id}"))
    assert (note.user_id, note.title, note.body) == (world.learner_a.id, "Classmate C replied in “How often to retrain?”",
                                                     "Retrain monthly.")


def test_the_author_edits_their_post_conditionally(setting, client, login) -> None:
    world, _, classmate, thread = setting
    post = opening_of(thread)
    login(client, world.learner_a)
    assert 'name="revision"' in client.get(f"/posts/{post.id}/edit").get_data(as_text=True)
    saved = client.post(f"/posts/{post.id}/edit", data={"title": "Retraining cadence", "body": "Edited", "revision": 1})
    assert saved.status_code == 302
    stale = client.post(f"/posts/{post.id}/edit", data={"title": "Old tab", "body": "Old tab", "revision": 1})
    assert stale.status_code == 409 and "changed" in stale.get_data(as_text=True)
    db.session.expire_all()
    assert (post.body, post.revision, post.thread.title) == ("Edited", 2, "Retraining cadence") and post.edited_at
    client.post("/logout")
    login(client, classmate)
    assert client.get(f"/posts/{post.id}/edit").status_code == 403
    with pytest.raises(services.DiscussionError):
        services.edit_post(db.session, post, classmate, "Hijack", None, 2, utcnow())
    # a hidden reply's author is told at once, not after typing their changes
    mine = services.reply(db.session, thread, classmate, "Something rude", utcnow(), link)
    services.moderate(db.session, world.instructor_a, ModerationAction.HIDE_POST, thread, mine, "Off-topic", utcnow())
    db.session.commit()
    opened = client.get(f"/posts/{mine.id}/edit")
    assert opened.status_code == 302 and opened.headers["Location"].startswith(f"/threads/{thread.id}")
    assert "A hidden post cannot be edited." in client.get(opened.headers["Location"]).get_data(as_text=True)


def test_marking_an_answer_does_not_make_the_authors_edit_stale(setting) -> None:
    world, _, classmate, thread = setting
    reply = services.reply(db.session, thread, classmate, "Weekly", utcnow(), link)
    services.moderate(db.session, world.instructor_a, ModerationAction.MARK_ANSWER, thread, reply, "", utcnow())
    services.edit_post(db.session, reply, classmate, "Weekly, with a drift check", None, 1, utcnow())
    db.session.commit()
    assert reply.is_answer and reply.revision == 2


def test_another_cohorts_people_get_404(setting, client, login) -> None:
    world, _, _, thread = setting
    for person in (world.learner_a2, world.learner_b, world.instructor_b, world.nobody):
        login(client, person)
        for url in (f"/threads/{thread.id}", f"/cohorts/{world.cohort_a.id}/discussions/mlops",
                    f"/posts/{opening_of(thread).id}/edit"):
            assert client.get(url).status_code == 404, (person.name, url)
        assert client.post(f"/threads/{thread.id}", data={"body": "hi"}).status_code == 404
        client.post("/logout")


def test_pages_run_a_fixed_number_of_statements(setting, client, login, enrol_learner, count_queries) -> None:
    world, mlops, _, thread = setting

    def add(n: int) -> None:
        for i in range(n):
            person = enrol_learner(world.cohort_a, name=f"Poster {i}")
            services.start_thread(db.session, world.cohort_a, mlops, person, f"Question {i}", "x", utcnow(), link)
            reply = services.reply(db.session, thread, person, f"Reply {i}", utcnow(), link)
            services.moderate(db.session, world.instructor_a, ModerationAction.HIDE_POST, thread, reply, "why", utcnow())
        db.session.commit()

    urls = [f"/cohorts/{world.cohort_a.id}/discussions", f"/cohorts/{world.cohort_a.id}/discussions/mlops",
            f"/threads/{thread.id}"]

    def measure() -> dict[tuple[str, str], int]:
        counts = {}
        for person in (world.learner_a, world.instructor_a):
            login(client, person)
            for url in urls:
                assert client.get(url).status_code == 200
                counts[(person.name, url)] = count_queries(lambda url=url: client.get(url))
            client.post("/logout")
        return counts

    add(2)
    few = measure()
    add(6)
    many = measure()
    assert few == many, f"2 threads and replies: {few}; 8: {many}"


def test_each_moderation_says_what_it_did() -> None:
    """Each action tells the moderator what happened in words ("Locked: ..."), not "Done: lock."."""
    assert set(MODERATORS) == set(ModerationAction)
    assert all(m.done.endswith(".") and not m.done.startswith("Done") for m in MODERATORS.values())


def test_a_posts_headings_sit_under_the_pages_own(setting, client, login) -> None:
    """A reply's "# Heading" is an h3 under the thread's h1 and the replies' h2, never a second
    h1, and carries no id of its own to repeat one of the page's (its skip link's "main")."""
    world, _, classmate, thread = setting
    login(client, classmate)
    assert client.post(f"/threads/{thread.id}", data={"body": "# main\n\n## Steps\n\n###### Last\n\nDone."}).status_code == 302
    page = client.get(f"/threads/{thread.id}").get_data(as_text=True)
    assert page.count("<h1") == 1
    assert "<h3>main</h3>" in page and "<h4>Steps</h4>" in page and "<h5>Last</h5>" in page
    assert page.count('id="main"') == 1


def test_hiding_a_thread_takes_back_the_other_instructors_new_thread_notices(setting, make_user) -> None:
    """One instructor hid a duplicate thread; the cohort's other instructor still had its
    "started a thread" notice, unread, asking for an answer to a thread dealt with (and
    linking to it). Hiding withdraws it too; another thread's stays."""
    world, mlops, classmate, thread = setting
    second = make_user(name="Second Instructor")
    world.cohort_a.instructors.append(second)
    db.session.commit()
    duplicate = services.start_thread(db.session, world.cohort_a, mlops, classmate, "Retrain how often?", "Same", utcnow(), link)
    kept = services.start_thread(db.session, world.cohort_a, mlops, classmate, "Feature stores", "Which one?", utcnow(), link)
    db.session.commit()

    def thread_notices(user_id: int) -> list[str]:
        return list(db.session.scalars(select(Notification.key).where(
            Notification.user_id == user_id, Notification.event == NotificationEvent.DISCUSSION_THREAD)
            .order_by(Notification.id)))

    assert thread_notices(second.id) == [f"discussion-post:{opening_of(t).id}" for t in (duplicate, kept)]
    services.moderate(db.session, world.instructor_a, ModerationAction.HIDE_THREAD, duplicate, None, "A duplicate", utcnow())
    db.session.commit()
    assert thread_notices(second.id) == [f"discussion-post:{opening_of(kept).id}"]
    assert thread_notices(world.instructor_a.id) == [f"discussion-post:{opening_of(t).id}" for t in (thread, kept)]
