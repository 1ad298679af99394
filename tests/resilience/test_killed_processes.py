"""SIGKILL of the processes that do the work: a gunicorn worker in the middle of a phone's request,
and the push worker with pushes in flight. Nothing is lost; the exactly-once guarantees hold.

The guarantees, exactly:
- Commands: every command ends finished once with one stored result, and each phone receives each of
  its commands once, because a phone sends an unanswered request again with the same body: a request
  whose worker died before answering is either undone (its transaction never committed) or done,
  and done again it changes nothing more (a command sent but not acknowledged is handed out again, a
  report of a finished command settles nothing).
- Pushes: none is lost, because an outbox row is deleted only once APNs accepted its push. A push is
  sent twice only when its worker died after sending it and before recording the delivery (APNs'
  answer and our database cannot be written atomically); it is the same push (same apns-id), sent
  again when the dead worker's lease ends, and harmless: an MDM push carries no command, it only
  wakes the phone, which then gets its queue once."""
import os
import signal
import time

from tests.resilience.stack import in_background, join_checked, wait_until

PUSH_LEASE = 2  # seconds before another worker takes over a dead worker's pushes


def _request_waits_on_a_lock(stack) -> bool:
    with stack.cluster.connect(stack.database) as connection:
        return connection.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                                  (stack.database,)).fetchone()[0] > 0


def _kill_the_web_worker_while_the_phone_waits(stack, node, phone, lock: str, key: str) -> None:
    """Hold a row lock the phone's next request needs; SIGKILL the gunicorn worker serving that request
    while it waits on the lock; let the lock go once gunicorn has started a new worker."""
    with stack.cluster.connect(stack.database) as holder:
        holder.execute(lock, (key,))
        failures = len(phone.failures)
        polling = in_background(lambda: phone.poll(time.monotonic() + 60))
        wait_until(lambda: _request_waits_on_a_lock(stack), 15, "the phone's request waiting in the database")
        [victim] = node.workers()
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(phone.failures) > failures, 15, "the phone seeing its request fail")
        wait_until(lambda: node.workers() not in ([], [victim]), 30, "gunicorn starting another worker")
        holder.rollback()
    join_checked(polling, 60)


def test_a_web_worker_killed_mid_request_costs_the_phone_a_retry_and_nothing_else(stack):
    node = stack.start_node(workers=1)
    idle_killed, report_killed = phones = stack.enroll(2)
    for phone in phones:
        phone.poll(time.monotonic() + 30)  # the inventory round queued at enrollment

    # the phone's Idle waits on its device row: once let go, the dead worker's statement hands the
    # command out (committed), but its answer never reaches the phone, which sends Idle again
    stack.queue([idle_killed])
    _kill_the_web_worker_while_the_phone_waits(stack, node, idle_killed,
                                               "SELECT 1 FROM devices WHERE enrollment_id = %s FOR UPDATE",
                                               idle_killed.device.enrollment_id)
    # the phone's report of its first command waits on the command to hand out next: once let go, the
    # dead worker's statement settles the reported command, and the phone's repeated report settles nothing
    stack.queue([report_killed], "DeviceInformation", Queries=["OSVersion"])
    [second] = stack.queue([report_killed])
    _kill_the_web_worker_while_the_phone_waits(stack, node, report_killed,
                                               "SELECT 1 FROM commands WHERE command_uuid = %s FOR UPDATE", second)

    assert all(phone.failures for phone in phones), "each phone lost a request and sent it again"
    stack.assert_commands_done_once()
    assert node.process.poll() is None


def test_a_killed_push_worker_loses_no_push_and_resends_only_those_in_flight(stack):
    stack.start_node(workers=1)
    dying = stack.start_worker(push_lease=PUSH_LEASE)
    phones = stack.enroll(4)
    stack.drain()  # the inventory round queued at enrollment, delivered through pushes
    in_flight, waiting = phones[:2], phones[2:]
    before = set(stack.pushes_by_apns_id())

    stack.standin.hold()  # APNs receives the pushes but has not answered when the worker dies
    stack.queue(in_flight)
    wait_until(lambda: stack.standin.held == len(in_flight), 15, "the worker sending its pushes")
    dying.send_signal(signal.SIGKILL)
    dying.wait()
    stack.queue(waiting)  # recorded while no worker runs
    stack.standin.release()  # APNs took the pushes in flight; their 200 never reached a worker
    sent_before_the_kill = set(stack.pushes_by_apns_id()) - before
    assert len(sent_before_the_kill) == len(in_flight)

    stack.start_worker(push_lease=PUSH_LEASE)
    stack.drain()
    stack.assert_commands_done_once()
    pushes = stack.pushes_by_apns_id()
    assert {apns_id: pushes[apns_id] for apns_id in sent_before_the_kill} == dict.fromkeys(sent_before_the_kill, 2), \
        "a push its worker died with is sent once more, as the same push"
    assert all(count == 1 for apns_id, count in pushes.items() if apns_id not in sent_before_the_kill)
    assert stack.pending_pushes() == 0
