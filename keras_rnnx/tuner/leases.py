"""Trial leases for keras-tuner's chief/worker mode: a dead worker blocks nobody.

keras-tuner's chief oracle hands a trial to a worker (``KERASTUNER_TUNER_ID``)
and waits for it to end; a worker killed mid-trial would keep its trial
"ongoing" forever, and the chief, which exits only when no trial is ongoing,
would never finish. `with_leases` adds a lease to every ongoing trial: a
worker renews it each time it talks to the chief (asking for a trial, and
reporting each epoch); a trial whose worker has been silent for more than
``lease_seconds`` is taken back and queued for retry, so the next worker that
asks runs it again (keras-tuner's own retry queue, served before new trials).
A worker restarted with the same ID before its lease runs out gets its own
unfinished trial back (keras-tuner returns the ongoing trial of a known ID).

Finished trials are never touched: only ongoing ones are taken back.
"""

import threading
import time

import keras_tuner
from keras_tuner.src.engine import trial as trial_module

DEFAULT_LEASE_SECONDS = 600.0


class _Leases:
    """Mixin for a keras-tuner `Oracle` subclass (see `with_leases`)."""

    lease_seconds = DEFAULT_LEASE_SECONDS

    def _lease_table(self):
        if not hasattr(self, "_last_seen"):
            self._last_seen = {}
            self.reclaimed = []
        return self._last_seen

    def _renew(self, tuner_id):
        self._lease_table()[tuner_id] = time.monotonic()

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        self._reclaim_expired(now=time.monotonic())
        self._renew(tuner_id)
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                self._renew(tuner_id)
        return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def reclaim_expired(self):
        """Take back the trials of workers silent for over ``lease_seconds``."""
        return self._reclaim_expired(now=time.monotonic())

    def _reclaim_expired(self, now):
        seen = self._lease_table()
        taken = []
        for tuner_id, trial in list(self.ongoing_trials.items()):
            last = seen.setdefault(tuner_id, now)  # first sight (e.g. after a reload)
            if now - last <= self.lease_seconds:
                continue
            self.ongoing_trials.pop(tuner_id)
            self.tuner_ids.discard(tuner_id)
            seen.pop(tuner_id, None)
            trial.status = trial_module.TrialStatus.IDLE
            if trial.trial_id not in self._retry_queue:
                self._retry_queue.append(trial.trial_id)
            taken.append((tuner_id, trial.trial_id))
            self.reclaimed.append((tuner_id, trial.trial_id))
        if taken:
            self.save()
        return taken


def with_leases(oracle_class, lease_seconds=DEFAULT_LEASE_SECONDS):
    """A subclass of the keras-tuner ``oracle_class`` with trial leases."""
    if lease_seconds <= 0:
        raise ValueError(f"`lease_seconds` must be > 0; received {lease_seconds!r}.")
    return type(
        f"Leased{oracle_class.__name__}",
        (_Leases, oracle_class),
        {"lease_seconds": float(lease_seconds), "__module__": __name__},
    )


def start_reclaimer(oracle, interval=5.0):
    """A daemon thread taking back expired trials every ``interval`` seconds.

    The chief runs it beside keras-tuner's server loop, so that a trial is
    taken back even when no worker asks for a new one.
    """
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            oracle.reclaim_expired()

    thread = threading.Thread(target=loop, name="rnnx-trial-leases", daemon=True)
    thread.start()
    return stop
