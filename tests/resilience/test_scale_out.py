"""Two web nodes and two workers on one PostgreSQL, as two hosts would run them: phones enroll and
report through either node, both workers deliver the same outbox and run the same scheduled sweep,
and every command, push and result is delivered and recorded once."""
import time
from concurrent.futures import ThreadPoolExecutor

from mdm_core.commands import inventory_commands


def test_two_nodes_and_two_workers_deliver_and_record_everything_once(stack, cluster):
    with ThreadPoolExecutor(2) as pool:  # two hosts, started side by side
        list(pool.map(lambda _host: stack.start_node(workers=2), range(2)))
    phones = stack.enroll(4)
    for phone in phones:  # the inventory round queued at enrollment, before any worker runs
        phone.poll(deadline=time.monotonic() + 30)
    with cluster.connect(stack.database, autocommit=True) as connection:  # a day and more later: all due
        connection.execute("UPDATE devices SET inventory_requested_at = now() - interval '2 days'")

    workers = [stack.start_worker(), stack.start_worker()]  # each sweeps as it starts
    for request_type in ("ProfileList", "CertificateList"):
        stack.queue(phones, request_type)  # through both nodes in turn; each command records a push
        stack.wake_pushed(deadline=time.monotonic() + 30)
    stack.drain()

    stack.assert_commands_done_once()
    pushes = stack.pushes_by_apns_id()
    assert pushes and max(pushes.values()) == 1, "no outbox request was pushed twice, by either worker"
    assert all(phone.pushes_seen for phone in phones)
    round_size = len(inventory_commands("user"))
    with cluster.connect(stack.database) as connection:
        inventory = dict(connection.execute(
            "SELECT d.enrollment_id, count(*) FROM commands c JOIN devices d ON d.id = c.device_id "
            "WHERE c.created_by = 'system:inventory' GROUP BY d.enrollment_id"))
        swept = connection.execute("SELECT coalesce(sum((detail->>'devices')::int), 0) FROM audit_events "
                                   "WHERE action = 'inventory.sweep'").fetchone()[0]
    assert inventory == {p.device.enrollment_id: 2 * round_size for p in phones}, \
        "one round at enrollment and one from the sweep, which two workers ran"
    assert swept == len(phones)
    assert all(worker.poll() is None for worker in workers)
    assert not any(phone.failures for phone in phones), "no request failed"
