"""Answering slots: a few at once, and the waiting client that used the least answering time goes next."""

import threading
import time

from retrieval.slots import FairSlots


def test_a_light_client_is_served_before_a_heavy_one_that_came_first():
    slots = FairSlots(1)
    with slots.slot("heavy"):
        time.sleep(0.2)  # "heavy" has used 0.2 s
    order, started = [], threading.Event()

    def hold():
        with slots.slot("other"):
            started.set()
            time.sleep(0.1)

    def ask(client):
        with slots.slot(client):
            order.append(client)

    holder = threading.Thread(target=hold)
    holder.start()
    started.wait()
    heavy = threading.Thread(target=ask, args=("heavy",))
    heavy.start()
    _until(lambda: slots.waiting == 1)  # heavy is waiting first
    light = threading.Thread(target=ask, args=("light",))
    light.start()
    for t in (holder, heavy, light):
        t.join()
    assert order == ["light", "heavy"]


def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_no_more_than_the_slots_at_once_and_every_waiter_served():
    slots, running, most, lock = FairSlots(2), [0], [0], threading.Lock()

    def work(i):
        with slots.slot(f"c{i % 5}"):
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.005)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert most[0] == 2 and running[0] == 0 and not any(t.is_alive() for t in threads)


def test_usage_halves_with_its_half_life():
    slots = FairSlots(1, half_life=10.0)
    slots._usage["a"] = (8.0, 100.0)
    assert abs(slots.usage("a", now=110.0) - 4.0) < 1e-9
