"""One YAML file -> typed, frozen settings; every problem is reported at once, by key path.

Each section is a frozen dataclass whose fields carry their own check (see `_opt`). The loader
walks the YAML against these dataclasses, collects every unknown key, wrong type, out-of-range
value and missing file as `key.path: problem, got value`, and raises one ConfigError listing them
all. Raw YAML never leaves this module. config/edge-ocr.yaml documents every key and default.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edge_ocr.errors import ConfigError
from edge_ocr.modelinfo import DEFAULT_VIEWS, VIEW_NAMES

if TYPE_CHECKING:
    from edge_ocr.mqtt import MqttSettings

SOURCE_TYPES = ("folder", "opencv", "picamera")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
IMAGE_PATTERNS = ("*.jpg", "*.jpeg", "*.png", "*.bmp")  # matched ignoring case
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*)$")
FIND_METHODS = ("outline", "marker", "reference")
# OpenCV's predefined ArUco and AprilTag dictionaries, with how many markers each holds.
ARUCO_DICTIONARIES = {
    **{f"DICT_{b}X{b}_{n}": n for b in (4, 5, 6, 7) for n in (50, 100, 250, 1000)},
    "DICT_ARUCO_ORIGINAL": 1024,
    "DICT_APRILTAG_16h5": 30,
    "DICT_APRILTAG_25h9": 35,
    "DICT_APRILTAG_36h10": 2320,
    "DICT_APRILTAG_36h11": 587,
    "DICT_ARUCO_MIP_36h12": 250,
}
_TOPIC_RE = re.compile(r"^[^#+\x00]+$")


class Secret:
    """A string that never shows itself in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class _Bad(Exception):
    """A value failed its check; the message says what was expected."""


Check = Callable[[Any, "_Ctx"], Any]


@dataclass
class _Ctx:
    """What checks need besides the value: where relative paths start, where errors go."""

    base: Path
    errors: list[str]
    path: str = ""


def _opt(default: Any, check: Check, *, factory: bool = False) -> Any:
    """A config key: its default (MISSING for a required key) and the check its value must pass."""
    meta = {"check": check}
    if factory:
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


# --- checks: each returns the converted value or raises _Bad("must ...") ---------------------


def integer(lo: int, hi: int) -> Check:
    def check(v: Any, ctx: _Ctx) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _Bad(f"must be an integer between {lo} and {hi}")
        return v

    return check


def number(lo: float, hi: float) -> Check:
    def check(v: Any, ctx: _Ctx) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            raise _Bad(f"must be a number between {lo:g} and {hi:g}")
        return float(v)

    return check


def boolean(v: Any, ctx: _Ctx) -> bool:
    if not isinstance(v, bool):
        raise _Bad("must be true or false")
    return v


def text(
    *,
    choices: tuple[str, ...] | None = None,
    regex: re.Pattern[str] | None = None,
    what: str = "",
    nullable: bool = False,
) -> Check:
    def check(v: Any, ctx: _Ctx) -> str | None:
        if v is None and nullable:
            return None
        if choices is not None:
            if not isinstance(v, str) or v not in choices:
                raise _Bad("must be one of " + ", ".join(choices))
            return v
        if not isinstance(v, str) or not v:
            raise _Bad("must be a non-empty string" + (" or null" if nullable else ""))
        if regex is not None and not regex.match(v):
            raise _Bad(f"must be {what}")
        return v

    return check


def fs_path(*, kind: str | None = None, nullable: bool = False, parent: bool = False) -> Check:
    """A filesystem path, relative to the config file's folder; `kind` file|dir must exist."""

    def check(v: Any, ctx: _Ctx) -> Path | None:
        if v is None and nullable:
            return None
        if isinstance(v, Path):
            p = v
        elif isinstance(v, str) and v:
            p = Path(os.path.expanduser(v))
        else:
            raise _Bad("must be a path" + (" or null" if nullable else ""))
        if not p.is_absolute():
            p = ctx.base / p
        if kind == "file" and not p.is_file():
            raise _Bad("file not found")
        if kind == "dir" and not p.is_dir():
            raise _Bad("folder not found")
        if parent and not p.parent.is_dir():
            raise _Bad(f"folder {p.parent} not found")
        return p

    return check


def regex_pattern(v: Any, ctx: _Ctx) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str):
        raise _Bad("must be a regular expression string or null")
    try:
        re.compile(v)
    except re.error as err:
        raise _Bad(f"is not a valid regular expression ({err})") from err
    return v


def point_list(count: int, what: str) -> Check:
    def check(v: Any, ctx: _Ctx) -> tuple[Any, ...] | None:
        if v is None:
            return None
        if count == 4 and what == "rect":
            ok = (
                isinstance(v, list)
                and len(v) == 4
                and all(_is_num(x) for x in v)
                and v[0] >= 0
                and v[1] >= 0
                and v[2] > 0
                and v[3] > 0
            )
            if not ok:
                raise _Bad("must be [x, y, width, height] with x, y >= 0 and width, height > 0")
            return tuple(float(x) for x in v)
        ok = (
            isinstance(v, list)
            and len(v) == count
            and all(isinstance(p, list) and len(p) == 2 and all(_is_num(x) for x in p) for p in v)
        )
        if not ok:
            raise _Bad("must be 4 points [[x, y], ...] clockwise from the text's top-left")
        return tuple((float(p[0]), float(p[1])) for p in v)

    return check


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def string_list(v: Any, ctx: _Ctx) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(s, str) and s for s in v):
        raise _Bad("must be a non-empty list of strings")
    return tuple(v)


def rotation(v: Any, ctx: _Ctx) -> int:
    if isinstance(v, bool) or v not in (0, 90, 180, 270):
        raise _Bad("must be one of 0, 90, 180, 270")
    return int(v)


def allowed_chars(v: Any, ctx: _Ctx) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise _Bad("must be a non-empty string of characters or null")
    return "".join(dict.fromkeys(v))


def pixel_size(v: Any, ctx: _Ctx) -> tuple[int, int] | None:
    if v is None:
        return None
    ok = (
        isinstance(v, list)
        and len(v) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) and 16 <= x <= 8192 for x in v)
    )
    if not ok:
        raise _Bad("must be [width, height] in pixels, each an integer between 16 and 8192")
    return (v[0], v[1])


def section(cls: type) -> Check:
    def check(v: Any, ctx: _Ctx) -> Any:
        return _load(cls, v, ctx)

    # Marks the check as a section's: a section left out of the file is built from its
    # defaults and checked like a written one (_load).
    check.section = cls  # type: ignore[attr-defined]
    return check


def video_source(v: Any, ctx: _Ctx) -> str | None:
    """A stream URL (has a scheme) kept as written; anything else is a file or device path,
    relative to the config file's folder, that must exist."""
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise _Bad("must be a video file, a device path or a stream URL (rtsp://...), or null")
    if "://" in v:
        return v
    p = Path(os.path.expanduser(v))
    if not p.is_absolute():
        p = ctx.base / p
    if not p.exists():
        raise _Bad(f"file not found: {p} (a stream URL needs its scheme, e.g. rtsp://)")
    return str(p)


def on_off(choices: tuple[str, ...]) -> Check:
    """A choice among words that include on and off, which YAML reads as true and false."""
    words = text(choices=choices)

    def check(v: Any, ctx: _Ctx) -> str | None:
        if isinstance(v, bool):
            v = "on" if v else "off"
        return words(v, ctx)

    return check


# --- sections ---------------------------------------------------------------------------------


def _default_model() -> Path:
    from edge_ocr.recognizer import default_model_path  # light: onnxruntime loads lazily

    return default_model_path()


def _default_lm() -> Path:
    from edge_ocr.charlm import default_lm_path

    return default_lm_path()


@dataclass(frozen=True)
class ModelConfig:
    """The recognition model, how many views of a line it reads, the character language model
    its unsure readings are settled with (None: none), and the CPU threads it and OpenCV may
    use."""

    path: Path = _opt(_default_model, fs_path(kind="file"), factory=True)
    threads: int = _opt(1, integer(1, 16))
    opencv_threads: int = _opt(1, integer(0, 16))
    views: int = _opt(DEFAULT_VIEWS, integer(1, len(VIEW_NAMES)))
    language_model: Path | None = _opt(
        _default_lm, fs_path(kind="file", nullable=True), factory=True
    )

    def _problems(self) -> list[str]:
        problems = []
        if not self.path.is_file():
            problems.append(f"path: model file not found, got '{self.path}'")
        if self.language_model is not None and not self.language_model.is_file():
            problems.append(
                f"language_model: file not found, got '{self.language_model}' "
                "(null reads without one)"
            )
        return problems


@dataclass(frozen=True)
class FolderConfig:
    """A watched folder of image files, each read once."""

    path: Path = _opt(Path("/var/lib/edge-ocr/inbox"), fs_path())
    patterns: tuple[str, ...] = _opt(IMAGE_PATTERNS, string_list)
    poll_seconds: float = _opt(0.5, number(0.05, 60))
    settle_seconds: float = _opt(1.0, number(0, 3600))
    incomplete_seconds: float = _opt(30.0, number(0, 86400))
    done_action: str = _opt("move", text(choices=("move", "delete")))
    done_dir: Path | None = _opt(None, fs_path(nullable=True))
    failed_dir: Path | None = _opt(None, fs_path(nullable=True))
    max_pixels: int = _opt(25_000_000, integer(1, 1_000_000_000))
    max_file_bytes: int = _opt(50_000_000, integer(1, 10_000_000_000))

    @property
    def done_folder(self) -> Path:
        return self.done_dir or self.path / "done"

    @property
    def failed_folder(self) -> Path:
        return self.failed_dir or self.path / "failed"

    def _problems(self) -> list[str]:
        # A file moved into the folder it was found in would be found and read again.
        watched = self.path.resolve()
        out = []
        for key, folder in (("done_dir", self.done_folder), ("failed_dir", self.failed_folder)):
            if folder.resolve() == watched:
                out.append(f"{key}: must not be the watched folder itself, got '{folder}'")
        return out


@dataclass(frozen=True)
class OpencvConfig:
    """A V4L2 camera index, a video file, or an RTSP/HTTP stream read through OpenCV."""

    url: str | None = _opt(None, video_source)
    device: int = _opt(0, integer(0, 63))
    width: int | None = _opt(None, lambda v, c: None if v is None else integer(16, 8192)(v, c))
    height: int | None = _opt(None, lambda v, c: None if v is None else integer(16, 8192)(v, c))
    fps: float | None = _opt(None, lambda v, c: None if v is None else number(0.1, 240)(v, c))
    reconnect_min_delay: float = _opt(1.0, number(0.01, 3600))
    reconnect_max_delay: float = _opt(30.0, number(0.01, 3600))
    loop: bool = _opt(False, boolean)


@dataclass(frozen=True)
class PicameraConfig:
    """A Raspberry Pi camera through picamera2."""

    camera: int = _opt(0, integer(0, 15))
    width: int = _opt(1280, integer(16, 8192))
    height: int = _opt(720, integer(16, 8192))


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from: one of the per-type sections, chosen by `type`."""

    type: str = _opt("folder", text(choices=SOURCE_TYPES))
    folder: FolderConfig = _opt(FolderConfig, section(FolderConfig), factory=True)
    opencv: OpencvConfig = _opt(OpencvConfig, section(OpencvConfig), factory=True)
    picamera: PicameraConfig = _opt(PicameraConfig, section(PicameraConfig), factory=True)

    def _problems(self) -> list[str]:
        out = []
        if self.type == "folder" and not self.folder.path.is_dir():
            out.append(f"folder.path: folder not found, got '{self.folder.path}'")
        if self.opencv.reconnect_min_delay > self.opencv.reconnect_max_delay:
            out.append("opencv.reconnect_min_delay: must not exceed reconnect_max_delay")
        return out


@dataclass(frozen=True)
class CaptureConfig:
    """How often camera sources take a frame, and how many frames may wait for recognition."""

    rate: float = _opt(2.0, number(0.01, 60))
    queue_size: int = _opt(4, integer(1, 100))


@dataclass(frozen=True)
class OutlineConfig:
    """find: outline: the label is the largest convex four-cornered outline in the frame."""

    min_area: float = _opt(0.05, number(0.001, 1))  # of the frame's area
    turned: int = _opt(0, rotation)  # how the label usually lies in the frame, clockwise


@dataclass(frozen=True)
class MarkerConfig:
    """find: marker: a printed ArUco marker at a known place on the label."""

    id: int = _opt(dataclasses.MISSING, integer(0, max(ARUCO_DICTIONARIES.values()) - 1))
    rect: tuple[float, float, float, float] = _opt(dataclasses.MISSING, point_list(4, "rect"))
    dictionary: str = _opt("DICT_4X4_50", text(choices=tuple(ARUCO_DICTIONARIES)))

    def _problems(self) -> list[str]:
        out = []
        count = ARUCO_DICTIONARIES[self.dictionary]
        if self.id >= count:
            out.append(f"id: {self.dictionary} holds ids 0 to {count - 1}, got {self.id}")
        if self.rect is None:
            out.append("rect: is required")
        return out


@dataclass(frozen=True)
class ReferenceConfig:
    """find: reference: a picture of the label, matched to each frame by ORB features."""

    image: Path = _opt(dataclasses.MISSING, fs_path(kind="file"))
    min_inliers: int = _opt(15, integer(4, 10_000))
    features: int = _opt(1500, integer(100, 100_000))


@dataclass(frozen=True)
class LabelConfig:
    """A label found in each frame and warped to a canonical view, on which fields are placed."""

    name: str = _opt(dataclasses.MISSING, text(regex=_NAME_RE, what="1-64 of A-Z a-z 0-9 _ -"))
    find: str = _opt(dataclasses.MISSING, text(choices=FIND_METHODS))
    size: tuple[int, int] | None = _opt(None, pixel_size)  # canonical [width, height], px
    outline: OutlineConfig | None = _opt(None, section(OutlineConfig))
    marker: MarkerConfig | None = _opt(None, section(MarkerConfig))
    reference: ReferenceConfig | None = _opt(None, section(ReferenceConfig))

    def _problems(self) -> list[str]:
        out = []
        for method in FIND_METHODS:
            given = getattr(self, method) is not None
            if method == self.find and method != "outline" and not given:
                out.append(f"{method}: is required for find: {method}")
            if method != self.find and given:
                out.append(f"{method}: only used with find: {method}, this label has {self.find}")
        if self.size is None and self.find != "reference":
            out.append(f"size: is required for find: {self.find} ([width, height] in pixels)")
        if self.marker is not None and self.size is not None:
            x, y, w, h = self.marker.rect
            if x + w > self.size[0] or y + h > self.size[1]:
                out.append(
                    f"marker.rect: must lie inside the label's {self.size[0]}x{self.size[1]} "
                    f"canonical view, got {list(self.marker.rect)}"
                )
        if not out:
            # What only OpenCV can tell: the marker dictionary exists, the picture is usable.
            from edge_ocr import anchor

            out += anchor.problems(self)
        return out

    def canonical_size(self) -> tuple[int, int]:
        """The canonical view's (width, height): `size`, else the reference picture's size."""
        if self.size is not None:
            return self.size
        from edge_ocr import anchor

        gray = anchor.load_reference(self)
        return (gray.shape[1], gray.shape[0])


@dataclass(frozen=True)
class FieldConfig:
    """One text line in the frame: where it is, how to turn it, what it may contain.

    With `label`, rect and quad are in that label's canonical view instead of the frame.
    """

    name: str = _opt(dataclasses.MISSING, text(regex=_NAME_RE, what="1-64 of A-Z a-z 0-9 _ -"))
    label: str | None = _opt(None, text(regex=_NAME_RE, what="a label's name", nullable=True))
    rect: tuple[float, float, float, float] | None = _opt(None, point_list(4, "rect"))
    quad: tuple[tuple[float, float], ...] | None = _opt(None, point_list(4, "quad"))
    rotate: int = _opt(0, rotation)
    allowed: str | None = _opt(None, allowed_chars)
    pattern: str | None = _opt(None, regex_pattern)
    min_confidence: float = _opt(0.0, number(0, 1))


@dataclass(frozen=True)
class DetectConfig:
    """Finding the text lines of a frame when no fields are configured.

    `mode: auto` detects on camera sources (opencv, picamera) and reads each file of a folder
    as one line (folders usually hold crops); `on` and `off` decide for every source.
    """

    mode: str = _opt("auto", on_off(("auto", "on", "off")))
    model: Path | None = _opt(None, fs_path(kind="file", nullable=True))
    # The bounds of detect.MAX_SIDE_RANGE (not imported here: it would load OpenCV).
    max_side: int | None = _opt(None, lambda v, c: None if v is None else integer(64, 4096)(v, c))
    zoom: bool = _opt(True, boolean)
    max_lines: int = _opt(16, integer(1, 256))
    min_confidence: float = _opt(0.5, number(0, 1))
    track_iou: float = _opt(0.3, number(0.01, 1))

    def model_path(self) -> Path:
        """The configured detector, else the one installed with edge-ocr."""
        from edge_ocr.detect import default_detector_path  # light: onnxruntime loads lazily

        return self.model if self.model is not None else default_detector_path()

    def active(self, source_type: str, fields: int) -> bool:
        """Whether frames are searched for lines (never when fields are configured)."""
        if fields or self.mode == "off":
            return False
        return self.mode == "on" or source_type != "folder"


@dataclass(frozen=True)
class StabilizeConfig:
    """Camera fields: publish a value once it wins `votes` of the last `window` frames."""

    votes: int = _opt(3, integer(1, 100))
    window: int = _opt(5, integer(1, 100))
    gone_after: int = _opt(10, integer(1, 10_000))

    def _problems(self) -> list[str]:
        if self.votes > self.window:
            return [f"votes: must not exceed window ({self.window}), got {self.votes}"]
        return []


@dataclass(frozen=True)
class MqttConfig:
    """The broker connection and topics; the password comes from a file or systemd credential."""

    # A name or an address, no scheme or port ("localhost:1883" and "mqtt://x" are refused).
    host: str = _opt("localhost", text(regex=_HOST_RE, what="a host name or IP address alone"))
    port: int = _opt(1883, integer(1, 65535))
    client_id: str | None = _opt(None, text(nullable=True))
    username: str | None = _opt(None, text(nullable=True))
    password_file: Path | None = _opt(None, fs_path(kind="file", nullable=True))
    credential: str = _opt("mqtt-password", text(regex=_NAME_RE, what="a credential name"))
    tls: bool = _opt(False, boolean)
    ca_file: Path | None = _opt(None, fs_path(kind="file", nullable=True))
    cert_file: Path | None = _opt(None, fs_path(kind="file", nullable=True))
    key_file: Path | None = _opt(None, fs_path(kind="file", nullable=True))
    tls_insecure: bool = _opt(False, boolean)
    keepalive: int = _opt(30, integer(5, 3600))
    topic_prefix: str = _opt("edge-ocr", text(regex=_TOPIC_RE, what="a topic without + or #"))
    qos: int = _opt(1, integer(0, 1))
    reconnect_min_delay: float = _opt(1.0, number(0.01, 3600))
    reconnect_max_delay: float = _opt(30.0, number(0.01, 3600))
    homeassistant_discovery: bool = _opt(True, boolean)
    discovery_prefix: str = _opt(
        "homeassistant", text(regex=_TOPIC_RE, what="a topic without + or #")
    )
    max_inflight: int = _opt(20, integer(1, 1000))
    # Filled in by the loader from password_file or $CREDENTIALS_DIRECTORY, never from YAML.
    password: Secret | None = field(default=None, repr=False, metadata={"internal": True})

    def _problems(self) -> list[str]:
        out = []
        if self.reconnect_min_delay > self.reconnect_max_delay:
            out.append("reconnect_min_delay: must not exceed reconnect_max_delay")
        if (self.cert_file is None) != (self.key_file is None):
            out.append("cert_file: cert_file and key_file must be given together")
        if (self.ca_file or self.cert_file or self.tls_insecure) and not self.tls:
            out.append("tls: must be true when ca_file, cert_file or tls_insecure is set")
        if not out:
            # The publisher's own rules (topic shapes and the like), under our key names.
            out += [
                p
                for p in self.settings("edge-ocr").problems()
                if not p.startswith(("device_id", "password"))
            ]
        return out

    def settings(self, device_id: str) -> MqttSettings:
        """The publisher's settings, password included."""
        from edge_ocr.mqtt import MqttSettings

        return MqttSettings(
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            username=self.username,
            password=self.password.reveal() if self.password else None,
            tls=self.tls,
            ca_file=_str(self.ca_file),
            cert_file=_str(self.cert_file),
            key_file=_str(self.key_file),
            tls_insecure=self.tls_insecure,
            keepalive=self.keepalive,
            topic_prefix=self.topic_prefix,
            device_id=device_id,
            qos=self.qos,
            reconnect_min_delay=self.reconnect_min_delay,
            reconnect_max_delay=self.reconnect_max_delay,
            homeassistant_discovery=self.homeassistant_discovery,
            discovery_prefix=self.discovery_prefix,
            max_inflight=self.max_inflight,
        )


def _str(p: Path | None) -> str | None:
    return None if p is None else str(p)


@dataclass(frozen=True)
class OutboxConfig:
    """The on-disk queue that keeps every reading until the broker has it."""

    path: Path = _opt(Path("/var/lib/edge-ocr/outbox.sqlite3"), fs_path())
    max_messages: int = _opt(100_000, integer(10, 100_000_000))

    def _problems(self) -> list[str]:
        if not self.path.parent.is_dir():
            return [f"path: folder {self.path.parent} not found, got '{self.path}'"]
        if self.path.is_dir():
            return [f"path: must name the outbox file, not a folder, got '{self.path}'"]
        return []


@dataclass(frozen=True)
class HealthConfig:
    """systemd watchdog pings and the STATUS= line."""

    watchdog: bool = _opt(True, boolean)
    status_interval: float = _opt(10.0, number(0.5, 3600))


@dataclass(frozen=True)
class ShutdownConfig:
    """How long SIGTERM waits for queued readings to reach the broker before exiting."""

    drain_seconds: float = _opt(10.0, number(0, 3600))


@dataclass(frozen=True)
class Config:
    """The whole configuration of one edge-ocr daemon."""

    device_id: str = _opt("edge-ocr", text(regex=_NAME_RE, what="1-64 of A-Z a-z 0-9 _ -"))
    log_level: str = _opt("INFO", text(choices=LOG_LEVELS))
    model: ModelConfig = _opt(ModelConfig, section(ModelConfig), factory=True)
    source: SourceConfig = _opt(SourceConfig, section(SourceConfig), factory=True)
    capture: CaptureConfig = _opt(CaptureConfig, section(CaptureConfig), factory=True)
    labels: tuple[LabelConfig, ...] = _opt(tuple, lambda v, c: _labels(v, c), factory=True)
    fields: tuple[FieldConfig, ...] = _opt(tuple, lambda v, c: _fields(v, c), factory=True)
    detect: DetectConfig = _opt(DetectConfig, section(DetectConfig), factory=True)
    stabilize: StabilizeConfig = _opt(StabilizeConfig, section(StabilizeConfig), factory=True)
    mqtt: MqttConfig = _opt(MqttConfig, section(MqttConfig), factory=True)
    outbox: OutboxConfig = _opt(OutboxConfig, section(OutboxConfig), factory=True)
    health: HealthConfig = _opt(HealthConfig, section(HealthConfig), factory=True)
    shutdown: ShutdownConfig = _opt(ShutdownConfig, section(ShutdownConfig), factory=True)
    file: Path | None = field(default=None, metadata={"internal": True})

    def _problems(self) -> list[str]:
        return _across_sections(self.labels, self.fields, self.detect, self.source)


def _across_sections(
    labels: tuple[LabelConfig, ...] | None,
    fields: tuple[FieldConfig, ...] | None,
    detect: DetectConfig | None,
    source: SourceConfig | None,
) -> list[str]:
    """Fields placed on labels: the label exists and the field lies on its canonical view.
    And when frames will be searched for lines, the detector model is there.

    Each check reads only sections that passed their own checks (None: one did not), so it
    runs even when another section has a mistake: a wrong mqtt.port does not hide a field's
    missing label until the next round.
    """
    out = []
    if detect is not None and source is not None and fields is not None:
        if detect.active(source.type, len(fields)):
            path = detect.model_path()
            if not path.is_file():
                out.append(f"detect.model: detector model file not found, got '{path}'")
    if labels is None or fields is None:
        return out
    by_name = {label.name: label for label in labels}
    for i, f in enumerate(fields):
        if f.label is None:
            continue
        label = by_name.get(f.label)
        if label is None:
            hint = difflib.get_close_matches(f.label, list(by_name), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            known = ", ".join(by_name) or "none"
            out.append(f"fields[{i}].label: no label named {f.label!r}{extra}; labels: {known}")
            continue
        points: tuple[tuple[float, float], ...]
        if f.rect is not None:
            x, y, rw, rh = f.rect
            key, points = "rect", ((x, y), (x + rw, y + rh))
        elif f.quad is not None:
            key, points = "quad", f.quad
        else:
            continue  # the whole label
        w, h = label.canonical_size()
        if not all(0 <= x <= w and 0 <= y <= h for x, y in points):
            out.append(
                f"fields[{i}].{key}: must lie on the label {label.name!r} "
                f"(its canonical view is {w}x{h} px)"
            )
    return out


# --- the loader ------------------------------------------------------------------------------


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# The sections Config's checks across sections read (`_across_sections`'s parameters).
_SPANNING = ("labels", "fields", "detect", "source")


def _load(cls: type, raw: Any, ctx: _Ctx) -> Any:
    """Check `raw` against dataclass `cls`; problems go to ctx.errors, return None if any."""
    where = ctx.path
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        ctx.errors.append(f"{where or '(top level)'}: must be a mapping of keys, got {_show(raw)}")
        return None
    known = {f.name: f for f in dataclasses.fields(cls) if "check" in f.metadata}
    before = len(ctx.errors)
    for key in raw:
        if key in known:
            continue
        if cls is MqttConfig and key == "password":
            ctx.errors.append(
                f"{_join(where, 'password')}: passwords are not accepted in the config file; "
                "put it in a file named by mqtt.password_file, or in the systemd credential "
                "named by mqtt.credential"
            )
            continue
        hint = difflib.get_close_matches(str(key), list(known), n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        ctx.errors.append(
            f"{_join(where, str(key))}: unknown key{extra}; expected one of: {', '.join(known)}"
        )
    values: dict[str, Any] = {}
    failed: set[str] = set()  # keys with a problem of their own
    for name, f in known.items():
        sub = _Ctx(ctx.base, ctx.errors, _join(where, name))
        errors_before_key = len(ctx.errors)
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                ctx.errors.append(f"{sub.path}: is required")
            elif hasattr(f.metadata["check"], "section") and f.default is dataclasses.MISSING:
                values[name] = f.metadata["check"](None, sub)  # a default section, checked
            continue
        try:
            values[name] = f.metadata["check"](raw[name], sub)
        except _Bad as bad:
            ctx.errors.append(f"{sub.path}: {bad}, got {_show(raw[name])}")
        if len(ctx.errors) > errors_before_key:
            failed.add(name)
    if len(ctx.errors) > before:
        if cls is Config:  # what spans sections, where those sections passed
            usable = {k: None if k in failed else values.get(k, ()) for k in _SPANNING}
            ctx.errors.extend(_across_sections(**usable))
        return None
    obj = cls(**values)
    problems = getattr(obj, "_problems", None)
    if problems is not None:
        for problem in problems():
            ctx.errors.append(_join(where, problem))
    return obj


def _named_list(cls: type, raw: Any, ctx: _Ctx, what: str) -> list[tuple[str, Any]]:
    """A YAML list of `cls` sections with unique names, as (key path, section) pairs."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _Bad(f"must be a list of {what}s")
    out: list[tuple[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        sub = _Ctx(ctx.base, ctx.errors, f"{ctx.path}[{i}]")
        obj = _load(cls, item, sub)
        if obj is None:
            continue
        if obj.name in seen:
            ctx.errors.append(f"{sub.path}.name: duplicate {what} name {obj.name!r}")
        seen.add(obj.name)
        out.append((sub.path, obj))
    return out


def _labels(raw: Any, ctx: _Ctx) -> tuple[LabelConfig, ...]:
    return tuple(label for _, label in _named_list(LabelConfig, raw, ctx, "label"))


def _fields(raw: Any, ctx: _Ctx) -> tuple[FieldConfig, ...]:
    loaded = _named_list(FieldConfig, raw, ctx, "field")
    for path, f in loaded:
        if f.rect is not None and f.quad is not None:
            ctx.errors.append(f"{path}: give either rect or quad, not both")
    return tuple(f for _, f in loaded)


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _no_duplicates,  # type: ignore[arg-type]
)


def parse(
    raw: Any, base: Path, *, environ: Mapping[str, str] | None = None, file: Path | None = None
) -> Config:
    """Check a parsed YAML document; raise one ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    ctx = _Ctx(base, [])
    config = _load(Config, raw, ctx)
    if ctx.errors or config is None:
        name = str(file) if file else "config"
        lines = "\n  ".join(ctx.errors)
        raise ConfigError(f"{name}: {len(ctx.errors)} problem(s):\n  {lines}")
    password = _password(config.mqtt, env, ctx.errors)
    if ctx.errors:
        raise ConfigError(f"{file or 'config'}: {ctx.errors[0]}")
    mqtt = dataclasses.replace(config.mqtt, password=password)
    return dataclasses.replace(config, mqtt=mqtt, file=file)


def _password(m: MqttConfig, env: Mapping[str, str], errors: list[str]) -> Secret | None:
    """The MQTT password: password_file first, else the systemd credential if it exists."""
    source: Path | None = m.password_file
    if source is None and env.get("CREDENTIALS_DIRECTORY"):
        candidate = Path(env["CREDENTIALS_DIRECTORY"]) / m.credential
        if candidate.is_file():
            source = candidate
    if source is None:
        return None
    try:
        value = source.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as err:
        errors.append(f"mqtt.password_file: cannot read {source}: {err.__class__.__name__}")
        return None
    # An empty file means no password: the service unit always loads the credential file.
    return Secret(value) if value else None


def load(file: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Read and check a YAML config file; raise ConfigError naming every problem."""
    p = Path(file)
    try:
        content = p.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"{p}: config file not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read config file: {err}") from err
    try:
        raw = yaml.load(content, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML: {err}") from err
    return parse(raw, p.resolve().parent, environ=environ, file=p)
