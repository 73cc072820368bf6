"""Wires the stages and runs them: source -> queue -> regions -> recognizer -> validate ->
stabilize -> outbox -> MQTT; plus signals, sd_notify and the watchdog.

Threads. A capture thread reads the source into a bounded queue. A live source (camera,
stream) never waits: when the queue is full its frame is dropped and counted. A folder or video
file waits for room instead, since skipping a file would lose it. The main thread takes frames
from the queue, recognizes all regions of a frame in one batched call, and writes readings to
the outbox; the publisher's own thread sends them. The watchdog is pinged from the main loop, so
a hung recognizer stops the pings and systemd restarts the service.

Signals. SIGTERM/SIGINT: stop capture, finish the frames already queued, give the publisher up
to shutdown.drain_seconds to empty the outbox (what is left stays on disk for the next start),
exit 0; a second signal cuts the wait short. SIGHUP: reload the config file; a config that
fails its checks, or a model that fails to load, leaves the running configuration in place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import numpy as np

from edge_ocr import __version__, config, regions, validate
from edge_ocr.config import Config, FieldConfig
from edge_ocr.ctc import Decoded
from edge_ocr.errors import ConfigError, EdgeOcrError, OutboxError
from edge_ocr.lines import LineReading, read_lines
from edge_ocr.notify import Notifier
from edge_ocr.sources import Source, open_source
from edge_ocr.stabilize import Gone, LineTracker, Stabilizer
from edge_ocr.types import Frame, Quad, Reading

log = logging.getLogger(__name__)

_CAPTURE_JOIN_SECONDS = 5.0


@dataclass
class Counters:
    """What the daemon has done since it started; shown in STATUS= and the logs."""

    dropped: int = 0
    processed: int = 0
    frame_errors: int = 0
    published: int = 0
    outbox_errors: int = 0  # readings that could not be written to the outbox


def iso(t: float) -> str:
    """ISO 8601 UTC with milliseconds and a Z."""
    stamp = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def reading_id(device_id: str, frame: Frame, field: str) -> str:
    """A stable id of one field of one frame: the same file read twice gets the same id."""
    origin = frame.path.name if frame.path is not None else f"{frame.source}#{frame.frame_id}"
    key = f"{device_id}\0{origin}\0{frame.captured_at!r}\0{field}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def payload(reading: Reading, *, model_version: str, event: str = "reading") -> dict[str, Any]:
    """The JSON body of a published reading (see the README for each key)."""
    body: dict[str, Any] = {
        "event": event,
        "field": reading.field,
        "text": reading.text,
        "confidence": round(reading.confidence, 4),
        "valid": reading.valid,
        "chars": [
            {"char": c, "confidence": p}
            for c, p in zip(reading.text, reading.char_confidences, strict=True)
        ],
        "source": reading.source,
        "frame_id": reading.frame_id,
        "captured_at": iso(reading.captured_at),
        "captured_at_unix": round(reading.captured_at, 3),
        "recognized_at": iso(reading.recognized_at),
        "recognized_at_unix": round(reading.recognized_at, 3),
        "model_version": model_version,
    }
    if reading.quad is not None:
        body["quad"] = [[round(x, 1), round(y, 1)] for x, y in reading.quad]
    body.update(reading.extra)
    return body


class Daemon:
    """One running edge-ocr service; `run()` blocks until it is told to stop."""

    def __init__(self, cfg: Config, *, notifier: Notifier | None = None) -> None:
        self._cfg = cfg
        self._notify = notifier or Notifier()
        self.counters = Counters()
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._reload = threading.Event()
        self._recognizer: Any = None
        self._masks: dict[str, np.ndarray | None] = {}
        self._detector: Any = None
        self._stabilizer = Stabilizer(
            cfg.stabilize.votes, cfg.stabilize.window, cfg.stabilize.gone_after
        )
        self._tracker = new_tracker(cfg)
        self._outbox: Any = None
        self._publisher: Any = None
        self._source: Source | None = None
        self._queue: queue.Queue[Frame] = queue.Queue(cfg.capture.queue_size)
        self._capture_thread: threading.Thread | None = None
        self._capture_stop = threading.Event()
        self._capture_ended = threading.Event()
        self._capture_error: BaseException | None = None

    # --- control ----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does); a second call hurries it."""
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()

    def request_reload(self) -> None:
        """Reload the config file at the next turn of the loop (what SIGHUP does)."""
        self._reload.set()

    def _install_signals(self) -> None:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            log.info("%s received: stopping", signal.Signals(signum).name)
            self.request_stop()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self.request_reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    # --- building the parts -----------------------------------------------------------------

    @staticmethod
    def _load_model(cfg: Config) -> tuple[Any, dict[str, np.ndarray | None]]:
        import cv2

        from edge_ocr.recognizer import Recognizer

        cv2.setNumThreads(cfg.model.opencv_threads)
        recognizer = Recognizer(
            cfg.model.path, cfg.model.threads, cfg.model.views, cfg.model.language_model
        )
        return recognizer, field_masks(recognizer, cfg.fields)

    @staticmethod
    def _load_detector(cfg: Config) -> Any:
        """The line detector when frames are searched for lines, else None."""
        if not cfg.detect.active(cfg.source.type, len(cfg.fields)):
            return None
        from edge_ocr.detect import Detector

        return Detector(
            cfg.detect.model_path(), cfg.model.threads, cfg.detect.max_side, cfg.detect.zoom
        )

    def _open_publisher(self, cfg: Config) -> None:
        from edge_ocr.mqtt import Publisher
        from edge_ocr.outbox import Outbox

        self._outbox = Outbox(cfg.outbox.path, max_messages=cfg.outbox.max_messages)
        try:
            self._publisher = Publisher(
                cfg.mqtt.settings(cfg.device_id),
                self._outbox,
                model_version=self._recognizer.info.version,
                software_version=__version__,
            )
            self._publisher.start()
            self._publisher.announce_fields(field_names(cfg))
        except BaseException:
            self._outbox.close()
            raise

    def _close_publisher(self, drain: float) -> None:
        publisher, outbox = self._publisher, self._outbox
        self._publisher = self._outbox = None
        if publisher is not None:
            undelivered = drain > 0 and not self._wait_idle(publisher, drain)
            if undelivered and outbox is not None and len(outbox):
                log.warning(
                    "%d message(s) not yet delivered stay in the outbox for the next start",
                    len(outbox),
                )
            publisher.stop(timeout=min(2.0, max(drain, 0.5)))
        if outbox is not None:
            outbox.close()

    def _wait_idle(self, publisher: Any, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self._hurry.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if publisher.wait_idle(min(left, 0.2)):
                return True
        return False

    def _start_capture(self, cfg: Config) -> None:
        self._source = open_source(cfg.source, cfg.capture)
        self._queue = queue.Queue(cfg.capture.queue_size)
        self._capture_stop = threading.Event()
        self._capture_ended = threading.Event()
        self._capture_error = None
        self._capture_thread = threading.Thread(
            target=self._capture,
            args=(self._source, self._queue, self._capture_stop, self._capture_ended),
            name="capture",
            daemon=True,
        )
        self._capture_thread.start()

    def _stop_capture(self) -> None:
        """Stop the capture thread, then recognize the frames it had already queued."""
        self._capture_stop.set()
        thread = self._capture_thread
        if thread is not None:
            thread.join(_CAPTURE_JOIN_SECONDS)
            if thread.is_alive():
                log.warning("capture thread did not stop within %.0f s", _CAPTURE_JOIN_SECONDS)
        while True:
            try:
                frame = self._queue.get_nowait()
            except queue.Empty:
                break
            self._handle(frame)
        if self._source is not None:
            self._source.close()
        self._capture_thread = None

    def _capture(
        self, source: Source, q: queue.Queue[Frame], stop: threading.Event, ended: threading.Event
    ) -> None:
        c = self.counters
        try:
            for frame in source.frames(stop):
                if source.live:
                    try:
                        q.put_nowait(frame)
                    except queue.Full:
                        c.dropped += 1
                        if c.dropped == 1 or c.dropped % 100 == 0:
                            log.info("recognition is behind: %d frame(s) dropped so far", c.dropped)
                    continue
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return  # a folder frame not queued stays in the folder for the next start
        except Exception as err:  # reported to the main loop, which exits non-zero
            self._capture_error = err
            log.error("source %s failed: %s", source.name, err)
        finally:
            ended.set()

    # --- running ----------------------------------------------------------------------------

    def run(self, *, install_signals: bool = True) -> int:
        """Start every stage, serve until stopped, shut down in order; the exit status."""
        if install_signals:
            self._install_signals()
        cfg = self._cfg
        self._recognizer, self._masks = self._load_model(cfg)
        self._detector = self._load_detector(cfg)
        self._open_publisher(cfg)
        try:
            self._start_capture(cfg)
        except BaseException:
            self._close_publisher(0)
            raise
        log.info(
            "edge-ocr %s running: device %s, source %s, %d field(s)",
            __version__,
            cfg.device_id,
            cfg.source.type,
            len(field_names(cfg)),
        )
        self._notify.ready(self._status())
        status = 0
        try:
            status = self._serve()
        finally:
            self._shutdown()
        return status

    def _serve(self) -> int:
        next_ping = next_status = 0.0
        ping_every = (self._notify.watchdog_interval or 0) / 3
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            try:
                frame: Frame | None = self._queue.get(timeout=0.2)
            except queue.Empty:
                frame = None
            if frame is not None:
                self._handle(frame)
            elif self._capture_ended.is_set() and self._queue.empty():
                if self._capture_error is not None:
                    return 1
                log.info("the source has ended")
                return 0
            now = time.monotonic()
            if self._cfg.health.watchdog and ping_every and now >= next_ping:
                self._notify.watchdog()
                next_ping = now + ping_every
            if now >= next_status:
                self._notify.status(self._status())
                next_status = now + self._cfg.health.status_interval
        return 0

    def _shutdown(self) -> None:
        self._notify.stopping()
        self._notify.status("stopping: finishing queued frames and draining the outbox")
        self._stop_capture()
        full_drops = self._outbox.dropped if self._outbox is not None else 0
        self._close_publisher(self._cfg.shutdown.drain_seconds)
        c = self.counters
        log.info(
            "stopped: %d frame(s) processed, %d reading(s) queued, %d frame(s) dropped, "
            "%d error(s)",
            c.processed,
            c.published,
            c.dropped,
            c.frame_errors,
        )
        if full_drops:
            log.warning(
                "the outbox was full and dropped %d reading(s) over its life (outbox.max_messages)",
                full_drops,
            )

    def _status(self) -> str:
        c = self.counters
        connected = self._publisher is not None and self._publisher.connected
        mqtt = "connected" if connected else "disconnected"
        outbox = "none"
        if self._outbox is not None:
            outbox = f"{len(self._outbox)} pending"
            if self._outbox.dropped:
                outbox += f", {self._outbox.dropped} dropped when full"
        status = (
            f"{c.processed} frames, {c.published} readings queued, {c.dropped} frames dropped, "
            f"{c.frame_errors} errors; outbox {outbox}; MQTT {mqtt}"
        )
        if c.outbox_errors:
            status += f"; {c.outbox_errors} outbox write errors"
        if self._cfg.labels:
            from edge_ocr.anchor import finders

            found = finders(self._cfg.labels)
            status += "; labels " + ", ".join(
                f"{name} found {f.found}/{f.found + f.missed}" for name, f in found.items()
            )
        return status

    # --- one frame --------------------------------------------------------------------------

    def _handle(self, frame: Frame) -> None:
        """Recognize one frame and hand its readings on; a problem skips only this frame."""
        try:
            readings = self.recognize(frame)
        except Exception as err:  # a per-frame problem: log it, count it, keep going
            self.counters.frame_errors += 1
            expected = isinstance(err, (EdgeOcrError, ValueError))
            reason = str(err) if isinstance(err, EdgeOcrError) else f"{type(err).__name__}: {err}"
            if not expected:
                log.exception("frame %d from %s: unexpected error", frame.frame_id, frame.source)
            else:
                log.warning("frame %d from %s skipped: %s", frame.frame_id, frame.source, reason)
            if frame.path is not None:
                self._folder_call("failed", frame, f"recognition failed: {reason}")
            return
        self.counters.processed += 1
        if frame.path is not None:
            self._publish_file(frame, readings)
        else:
            self._publish_votes(readings)

    def recognize(self, frame: Frame) -> list[Reading]:
        """Every field of the frame, read in one batched model call and judged by its rules.

        A field that cannot be cut out of this frame (its label not found, or it lies outside
        the frame) gets an invalid, empty reading with the reason (a "nothing" vote). With no
        fields and detection on, every detected line is read instead.
        """
        if self._detector is not None:
            return self._recognize_lines(frame)
        missed: dict[str, str] = {}
        found = regions.extract(frame, self._cfg.fields, self._cfg.labels, missed)
        decoded = self._recognizer.recognize(
            [r.crop for r in found], [self._masks.get(r.field) for r in found]
        )
        now = time.time()
        rules = {f.name: f for f in self._cfg.fields}
        readings = []
        for region, line in zip(found, decoded, strict=True):
            reading = self._reading(frame, region.field, line, region.quad, now)
            rule = rules.get(region.field)
            if rule is not None:
                reading = validate.judge(reading, rule.pattern, rule.min_confidence)
            else:
                reading = validate.judge(reading, None, 0.0)
            readings.append(reading)
        for f in self._cfg.fields:
            if f.name in missed:  # its label not found, or it lies outside this frame
                readings.append(self._nothing(frame, f.name, now, missed[f.name]))
        return readings

    def _recognize_lines(self, frame: Frame) -> list[Reading]:
        """The detected lines of a frame, named by the tracker (camera) or by position (file)."""
        det = self._cfg.detect
        lines = read_lines(frame.image, self._detector, self._recognizer)
        lines = [x for x in lines if x.text.strip() and x.confidence >= det.min_confidence]
        lines = lines[: det.max_lines]
        now = time.time()
        missed: list[str] = []
        if frame.path is not None:
            names = [f"line-{i}" for i in range(1, len(lines) + 1)]
        else:
            names, missed, dropped = self._tracker.update([x.quad for x in lines])
            for name in dropped:
                self._stabilizer.forget(name)
        readings = [
            validate.judge(self._reading(frame, name, line, line.quad, now), None, 0.0)
            for name, line in zip(names, lines, strict=True)
        ]
        readings += [self._nothing(frame, name, now, "line not seen") for name in missed]
        return readings

    def _reading(
        self, frame: Frame, field: str, line: Decoded | LineReading, quad: Quad, now: float
    ) -> Reading:
        """What was read of one field or line of a frame, before its rules are applied."""
        return Reading(
            field=field,
            text=line.text,
            confidence=line.confidence,
            char_confidences=line.char_confidences,
            frame_id=frame.frame_id,
            source=frame.source,
            captured_at=frame.captured_at,
            recognized_at=now,
            quad=quad,
            extra=self._extra(frame, field),
        )

    def _extra(self, frame: Frame, field: str) -> dict[str, str]:
        extra = {"reading_id": reading_id(self._cfg.device_id, frame, field)}
        if frame.path is not None:
            extra["path"] = str(frame.path)
        return extra

    def _nothing(self, frame: Frame, field: str, now: float, problem: str) -> Reading:
        """An empty, invalid reading: the field or line was not seen in this frame."""
        return Reading(
            field=field,
            text="",
            confidence=0.0,
            char_confidences=(),
            frame_id=frame.frame_id,
            source=frame.source,
            captured_at=frame.captured_at,
            recognized_at=now,
            valid=False,
            extra={**self._extra(frame, field), "problem": problem},
        )

    def _publish_file(self, frame: Frame, readings: list[Reading]) -> None:
        """Publish every reading of a file (valid or not), then mark the file done."""
        try:
            for reading in readings:
                self._put(reading, "reading")
        except (OutboxError, OSError) as err:
            # Not done, not failed: the file stays and is read again later.
            self.counters.outbox_errors += 1
            log.error("cannot queue the readings of %s: %s; will retry", frame.path, err)
            self._folder_call("release", frame)
            return
        log.info(
            "%s: %s",
            frame.path.name if frame.path else frame.frame_id,
            ", ".join(
                f"{r.field}={r.text!r}" + ("" if r.valid else " (invalid)") for r in readings
            ),
        )
        self._folder_call("done", frame)

    def _publish_votes(self, readings: list[Reading]) -> None:
        for reading in readings:
            event = self._stabilizer.update(reading)
            try:
                if isinstance(event, Gone):
                    extra = {k: v for k, v in event.last.extra.items() if k != "problem"}
                    gone = dataclasses.replace(
                        event.last,
                        text="",
                        char_confidences=(),
                        confidence=0.0,
                        valid=False,
                        extra={**extra, "previous_text": event.previous_text},
                    )
                    self._put(gone, "gone")
                    log.info("%s: %r gone", reading.field, event.previous_text)
                elif event is not None:
                    self._put(event, "reading")
                    log.info("%s: %r (confidence %.2f)", event.field, event.text, event.confidence)
            except (OutboxError, OSError) as err:
                self.counters.outbox_errors += 1
                log.error("cannot queue a reading of %s: %s", reading.field, err)

    def _put(self, reading: Reading, event: str) -> None:
        body = payload(reading, model_version=self._recognizer.info.version, event=event)
        # Detected lines come and go: their state is not kept on the broker.
        self._publisher.publish_reading(reading.field, body, retain_state=self._detector is None)
        self.counters.published += 1

    def _folder_call(self, name: str, frame: Frame, *args: str) -> None:
        method = getattr(self._source, name, None)
        if method is not None:
            method(frame, *args)

    # --- reload -----------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the config file and apply it; on any problem keep running as before."""
        file = self._cfg.file
        if file is None:
            log.warning("reload requested, but the config did not come from a file")
            return False
        try:
            new = config.load(file)
        except ConfigError as err:
            log.error("reload failed, keeping the running configuration: %s", err)
            self._notify.status(f"reload failed, running the previous config: {err}")
            return False
        self._notify.reloading()
        old = self._cfg
        try:
            recognizer, masks = self._recognizer, self._masks
            detector = self._detector
            if (new.detect, new.fields, new.source.type, new.model.threads) != (
                old.detect,
                old.fields,
                old.source.type,
                old.model.threads,
            ):
                detector = self._load_detector(new)
            if new.model != old.model or new.fields != old.fields:
                recognizer, masks = (
                    self._load_model(new)
                    if new.model != old.model
                    else (recognizer, field_masks(recognizer, new.fields))
                )
        except EdgeOcrError as err:
            log.error("reload failed, keeping the running configuration: %s", err)
            self._notify.ready(f"reload failed, running the previous config: {err}")
            return False
        logging.getLogger().setLevel(new.log_level)
        source_changed = new.source != old.source or new.capture != old.capture
        publisher_changed = (
            new.mqtt != old.mqtt
            or new.outbox != old.outbox
            or new.device_id != old.device_id
            or recognizer is not self._recognizer
        )
        if source_changed:
            self._stop_capture()  # queued frames are finished under the old config
        self._cfg = new
        self._recognizer, self._masks = recognizer, masks
        lines_changed = detector is not self._detector or new.detect != old.detect
        self._detector = detector
        if new.fields != old.fields or new.stabilize != old.stabilize or lines_changed:
            s = new.stabilize
            self._stabilizer = Stabilizer(s.votes, s.window, s.gone_after)
            self._tracker = new_tracker(new)
        if publisher_changed:
            self._close_publisher(min(2.0, new.shutdown.drain_seconds))
            try:
                self._open_publisher(new)
            except EdgeOcrError as err:
                log.error(
                    "reload: cannot open the new outbox/MQTT settings (%s); "
                    "going back to the previous ones",
                    err,
                )
                self._cfg = dataclasses.replace(
                    new, mqtt=old.mqtt, outbox=old.outbox, device_id=old.device_id
                )
                self._open_publisher(self._cfg)
        elif field_names(new) != field_names(old):
            self._publisher.announce_fields(field_names(new))
        if source_changed:
            self._start_capture(new)
        log.info("configuration reloaded from %s", file)
        self._notify.ready(self._status())
        return True


def field_names(cfg: Config) -> list[str]:
    """The fixed names readings are published under (none for detected lines)."""
    if cfg.detect.active(cfg.source.type, len(cfg.fields)):
        return []
    return [f.name for f in cfg.fields] or [regions.WHOLE_IMAGE_FIELD]


def new_tracker(cfg: Config) -> LineTracker:
    """A line tracker that forgets a line once its value would be gone."""
    return LineTracker(cfg.detect.track_iou, cfg.stabilize.gone_after + cfg.stabilize.window)


def field_masks(recognizer: Any, fields: tuple[FieldConfig, ...]) -> dict[str, np.ndarray | None]:
    """Each field's decoding mask; ConfigError naming the field if the model lacks a character."""
    masks = {}
    problems = []
    for i, f in enumerate(fields):
        try:
            masks[f.name] = recognizer.mask(f.allowed)
        except ValueError as err:
            problems.append(f"fields[{i}].allowed: {err}")
    if problems:
        raise ConfigError("; ".join(problems))
    return masks
