"""Trial leases for keras-tuner's chief/worker mode: a dead worker blocks nobody.

keras-tuner's chief oracle hands a trial to a worker (``KERASTUNER_TUNER_ID``)
and waits for it to end; a worker killed mid-trial would keep its trial
"ongoing" forever, and the chief, which exits only when no trial is ongoing,
would never finish. `with_leases` adds a lease to every ongoing trial: a
worker renews it each time it talks to the chief (asking for a trial,
reporting it, and, since keras-tuner 1.4 says nothing while a trial runs,
from the heartbeat thread of `Heartbeat` every ``HEARTBEAT_SECONDS``); a
trial whose worker has been silent for more than ``lease_seconds`` is taken
back and queued for retry, so the next worker that asks runs it again
(keras-tuner's own retry queue, served before new trials). A worker
restarted with the same ID before its lease runs out gets its own
unfinished trial back (keras-tuner returns the ongoing trial of a known ID).
A silent worker that holds no trial (killed between two trials) is
forgotten too, so that the chief, which waits for every worker it has seen,
can exit.

Finished trials are never touched: only ongoing ones are taken back, and a
trial reported finished by a worker that had lost it (slow, not dead) is
kept and not run again.
"""

import threading
import time

import keras_tuner
from keras_tuner.src.engine import trial as trial_module

DEFAULT_LEASE_SECONDS = 600.0
HEARTBEAT_SECONDS = 1.0
"""How often a worker renews the lease of the trial it runs (`Heartbeat`);
``lease_seconds`` should be several times longer."""


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

    def _renew_holder(self, trial_id):
        for tuner_id, trial in self.ongoing_trials.items():
            if trial.trial_id == trial_id:
                self._renew(tuner_id)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        self._reclaim_expired(now=time.monotonic())
        self._renew(tuner_id)
        return super().create_trial(tuner_id)

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        self._renew_holder(trial_id)
        return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def get_trial(self, trial_id):
        # A worker's heartbeat (`Heartbeat`) as well as a plain query.
        self._renew_holder(trial_id)
        return super().get_trial(trial_id)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        # A trial taken back from a slow worker that then finishes it stays
        # finished: it leaves the retry queue (keras-tuner requeues INVALID ones).
        if self.trials[trial.trial_id].status != trial_module.TrialStatus.INVALID:
            queued = len(self._retry_queue)
            self._retry_queue[:] = [t for t in self._retry_queue if t != trial.trial_id]
            if len(self._retry_queue) != queued:
                self.save()

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
        for tuner_id in self.tuner_ids - set(self.ongoing_trials):
            # A worker holding no trial, silent: killed between two trials.
            if now - seen.setdefault(tuner_id, now) > self.lease_seconds:
                self.tuner_ids.discard(tuner_id)
                seen.pop(tuner_id, None)
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


def start_heartbeat(oracle, trial_id, interval=HEARTBEAT_SECONDS):
    """A daemon thread asking ``oracle`` for trial ``trial_id`` every ``interval`` s.

    On a worker, ``oracle`` is keras-tuner's client of the chief, whose
    leased oracle renews the lease of the trial's holder on every
    ``get_trial``. Returns the `threading.Event` that stops it.
    """
    stop = threading.Event()

    def loop():
        while not stop.wait(interval):
            try:
                oracle.get_trial(trial_id)
            except Exception:  # the chief gone or busy: the trial's end reports it
                pass

    threading.Thread(target=loop, name="rnnx-trial-heartbeat", daemon=True).start()
    return stop


class Heartbeat:
    """Mixin for a keras-tuner `Tuner`: a worker keeps its trial's lease while it runs.

    keras-tuner 1.4 talks to the chief when a trial starts and when it ends,
    not in between (its `Tuner.on_epoch_end` reports nothing), so without a
    heartbeat any trial longer than ``lease_seconds`` would be taken from a
    live worker and run again. Standalone and on the chief it does nothing.
    """

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        if self._is_worker():
            self._heartbeat = start_heartbeat(self.oracle, trial.trial_id)

    def on_trial_end(self, trial):
        stop = getattr(self, "_heartbeat", None)
        if stop is not None:
            stop.set()
            self._heartbeat = None
        super().on_trial_end(trial)
