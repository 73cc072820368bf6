"""edge_ocr.config: one YAML file -> frozen settings; every problem named by its key path."""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_ocr import config
from edge_ocr.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not loaded by the config checks")
    return path


@pytest.fixture
def write(tmp_path: Path, model_file: Path) -> Any:
    """Write a config (with a valid model path and folder unless given) and return its path."""

    def make(raw: dict[str, Any] | str) -> Path:
        if isinstance(raw, dict):
            raw.setdefault("model", {"path": str(model_file)})
            (tmp_path / "inbox").mkdir(exist_ok=True)
            raw.setdefault("source", {"folder": {"path": str(tmp_path / "inbox")}})
            raw.setdefault("outbox", {"path": str(tmp_path / "outbox.sqlite3")})
            raw = yaml.safe_dump(raw)
        path = tmp_path / "edge-ocr.yaml"
        path.write_text(raw)
        return path

    return make


def problems(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(path, environ={})
    return str(info.value)


def test_valid_minimal_config_loads_with_defaults(write: Any) -> None:
    """A config giving only paths gets every other value from the defaults."""
    cfg = config.load(write({}), environ={})
    assert cfg.mqtt.port == 1883 and cfg.stabilize.votes == 3 and cfg.fields == ()


def test_port_that_is_not_a_number_names_key_and_value(write: Any) -> None:
    """A non-numeric mqtt.port is reported with its key path, the rule and the value."""
    msg = problems(write({"mqtt": {"port": "abc"}}))
    assert "mqtt.port: must be an integer between 1 and 65535, got 'abc'" in msg


def test_out_of_range_value_names_key(write: Any) -> None:
    """A number outside its range is refused with the allowed range."""
    msg = problems(write({"capture": {"queue_size": 0}}))
    assert "capture.queue_size: must be an integer between 1 and 100, got 0" in msg


def test_language_model_defaults_to_the_shipped_one_and_null_turns_it_off(
    write: Any, model_file: Path, tmp_path: Path
) -> None:
    """model.language_model: the shipped model unless set; null reads without one; a path
    that is not there names the key."""
    from edge_ocr.charlm import default_lm_path

    assert config.load(write({}), environ={}).model.language_model == default_lm_path()
    off = write({"model": {"path": str(model_file), "language_model": None}})
    assert config.load(off, environ={}).model.language_model is None
    missing = write({"model": {"path": str(model_file), "language_model": "nope.npz"}})
    assert "model.language_model: file not found" in problems(missing)


def test_detector_zoom_is_on_by_default_and_must_be_a_boolean(write: Any) -> None:
    """detect.zoom (the closer look at small text) defaults to on; 'sometimes' is refused."""
    assert config.load(write({}), environ={}).detect.zoom is True
    assert config.load(write({"detect": {"zoom": False}}), environ={}).detect.zoom is False
    assert "detect.zoom:" in problems(write({"detect": {"zoom": "sometimes"}}))


def test_views_outside_one_to_three_names_key(write: Any) -> None:
    """model.views is how many views of a line are read: 1, 2 or 3."""
    msg = problems(write({"model": {"views": 4}}))
    assert "model.views: must be an integer between 1 and 3, got 4" in msg


def test_unknown_key_is_refused_with_a_suggestion(write: Any) -> None:
    """A misspelt key is an error that suggests the key meant."""
    msg = problems(write({"mqtt": {"hots": "broker"}}))
    assert "mqtt.hots: unknown key (did you mean 'host'?)" in msg


def test_wrong_type_in_a_list_item_names_its_index(write: Any) -> None:
    """A problem inside the fields list is reported as fields[i].key."""
    msg = problems(write({"fields": [{"name": "a"}, {"name": "b", "rotate": 45}]}))
    assert "fields[1].rotate: must be one of 0, 90, 180, 270, got 45" in msg


def test_section_that_is_not_a_mapping_is_refused(write: Any) -> None:
    """A section given as a scalar is reported as such."""
    msg = problems(write({"stabilize": 3}))
    assert "stabilize: must be a mapping of keys, got 3" in msg


def test_all_problems_are_reported_in_one_message(write: Any) -> None:
    """Several independent mistakes all appear in the one error."""
    msg = problems(
        write(
            {
                "device_id": "has space",
                "mqtt": {"port": 0, "qos": 2},
                "fields": [{"rect": [1, 2]}],
                "stabilize": {"votes": 9, "window": 5},
            }
        )
    )
    for key in (
        "device_id:",
        "mqtt.port:",
        "mqtt.qos:",
        "fields[0].name: is required",
        "fields[0].rect:",
        "stabilize.votes:",
    ):
        assert key in msg
    assert msg.count("\n  ") == 6


def test_a_field_on_a_missing_label_is_reported_beside_other_sections_mistakes(
    write: Any,
) -> None:
    """Checks that span sections (a field's label) are not put off to a second round by a
    mistake in an unrelated section; a section with a mistake of its own is not read by them."""
    plate = {"name": "plate", "find": "marker", "size": [600, 400]}
    plate["marker"] = {"id": 7, "rect": [20, 20, 90, 90]}
    msg = problems(
        write(
            {
                "mqtt": {"port": "abc"},
                "labels": [plate],
                "fields": [{"name": "serial", "label": "plat"}],
            }
        )
    )
    assert "mqtt.port:" in msg
    assert "fields[0].label: no label named 'plat' (did you mean 'plate'?)" in msg
    assert msg.count("\n  ") == 2
    # A label section with a problem of its own: no guesses about which labels exist.
    plate["size"] = [600]
    msg = problems(write({"labels": [plate], "fields": [{"name": "serial", "label": "plat"}]}))
    assert "labels[0].size:" in msg and "no label named" not in msg


def test_missing_model_file_is_refused(write: Any, tmp_path: Path) -> None:
    """A model path that does not exist is a config error naming model.path."""
    msg = problems(write({"model": {"path": str(tmp_path / "nope.onnx")}}))
    assert "model.path: file not found" in msg


def test_missing_watched_folder_is_refused(write: Any, tmp_path: Path) -> None:
    """The folder source needs its folder to exist."""
    msg = problems(write({"source": {"folder": {"path": str(tmp_path / "missing")}}}))
    assert "source.folder.path: folder not found" in msg


def test_invalid_regex_is_refused(write: Any) -> None:
    """A field pattern that does not compile is reported with the regex error."""
    msg = problems(write({"fields": [{"name": "a", "pattern": "([0-9]"}]}))
    assert "fields[0].pattern: is not a valid regular expression" in msg


def test_duplicate_field_names_are_refused(write: Any) -> None:
    """Two fields cannot share a name (it is their MQTT topic)."""
    msg = problems(write({"fields": [{"name": "a"}, {"name": "a"}]}))
    assert "fields[1].name: duplicate field name 'a'" in msg


def test_key_given_twice_in_yaml_is_refused(write: Any, model_file: Path) -> None:
    """A YAML mapping with a repeated key is an error, not a silent override."""
    msg = problems(write(f"model: {{path: {model_file}}}\nmodel: {{threads: 2}}\n"))
    assert "given twice" in msg


def test_invalid_yaml_is_reported_with_its_position(write: Any) -> None:
    """A YAML syntax error says the file is not valid YAML and where."""
    msg = problems(write("mqtt: [unclosed\n"))
    assert "not valid YAML" in msg and "line" in msg


def test_topic_prefix_with_wildcard_is_refused(write: Any) -> None:
    """MQTT topics may not contain wildcards."""
    msg = problems(write({"mqtt": {"topic_prefix": "a/#"}}))
    assert "mqtt.topic_prefix:" in msg


def test_inline_password_is_refused_with_the_alternatives(write: Any) -> None:
    """A password written into the YAML is refused, pointing at password_file."""
    msg = problems(write({"mqtt": {"username": "u", "password": "hunter2"}}))
    assert "mqtt.password:" in msg and "password_file" in msg
    assert "hunter2" not in msg


def test_password_is_read_from_password_file(write: Any, tmp_path: Path) -> None:
    """mqtt.password_file supplies the password, without its trailing newline."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    cfg = config.load(write({"mqtt": {"username": "u", "password_file": str(secret)}}), environ={})
    assert cfg.mqtt.password is not None and cfg.mqtt.password.reveal() == "s3cret"
    assert cfg.mqtt.settings("dev").password == "s3cret"


def test_password_is_read_from_systemd_credential(write: Any, tmp_path: Path) -> None:
    """Without password_file, $CREDENTIALS_DIRECTORY/mqtt-password supplies it."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("from-systemd")
    cfg = config.load(
        write({"mqtt": {"username": "u"}}), environ={"CREDENTIALS_DIRECTORY": str(creds)}
    )
    assert cfg.mqtt.password is not None and cfg.mqtt.password.reveal() == "from-systemd"


def test_empty_credential_means_no_password(write: Any, tmp_path: Path) -> None:
    """The empty credential file the installer creates means: no password."""
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text("")
    cfg = config.load(write({}), environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.mqtt.password is None


def test_password_never_appears_in_reprs_or_logs(
    write: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the config's repr nor the publisher settings' repr shows the password."""
    secret = tmp_path / "pw"
    secret.write_text("TopSecret-123")
    cfg = config.load(write({"mqtt": {"username": "u", "password_file": str(secret)}}), environ={})
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %s %r %s", cfg, cfg.mqtt, cfg.mqtt.settings("dev"))
    assert "TopSecret-123" not in caplog.text
    assert "TopSecret-123" not in repr(cfg) + str(cfg.mqtt.password)


def test_relative_paths_are_relative_to_the_config_file(write: Any, tmp_path: Path) -> None:
    """A relative path in the file is resolved against the file's folder."""
    cfg = config.load(write({"outbox": {"path": "state.sqlite3"}}), environ={})
    assert cfg.outbox.path == tmp_path / "state.sqlite3"


def test_config_is_frozen(write: Any) -> None:
    """Settings cannot be changed after loading."""
    cfg = config.load(write({}), environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.device_id = "other"  # type: ignore[misc]


def _keys(obj: Any, prefix: str = "") -> list[str]:
    """Every config key below a settings object, as dotted paths."""
    out = []
    for f in dataclasses.fields(obj):
        if "check" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += _keys(value, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def test_shipped_config_documents_every_key_with_its_default() -> None:
    """config/edge-ocr.yaml mentions every key, and the values it sets are the defaults."""
    text = (REPO / "config" / "edge-ocr.yaml").read_text()
    defaults = config.Config()
    field_keys = [f"fields[].{k}" for k in _keys(config.FieldConfig(name="x"))]
    for key in _keys(defaults) + field_keys:
        leaf = key.rsplit(".", 1)[-1]
        assert re.search(rf"^\s*#?\s*(- )?{leaf}:", text, re.M), f"{key} is not documented"

    def walk(node: dict[str, Any], obj: Any, prefix: str) -> None:
        for k, v in node.items():
            value = getattr(obj, k)
            if isinstance(v, dict):
                walk(v, value, f"{prefix}{k}.")
            else:
                got = list(value) if isinstance(value, tuple) else value
                got = str(got) if isinstance(got, Path) else got
                assert v == got, f"{prefix}{k}: documented {v!r}, default {got!r}"

    walk(yaml.safe_load(text), defaults, "")


def test_check_config_exits_2_and_names_the_key(write: Any) -> None:
    """`edge-ocr check-config` prints the problems and exits with status 2."""
    path = write({"mqtt": {"port": "abc"}})
    result = subprocess.run(
        [sys.executable, "-m", "edge_ocr", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert "mqtt.port: must be an integer between 1 and 65535, got 'abc'" in result.stderr


def test_sections_left_out_are_checked_like_written_ones(tmp_path: Path) -> None:
    """An empty file does not pass as valid when its defaults cannot run: the default watched
    folder and outbox folder are named as missing, as if the keys had been written."""
    if Path("/var/lib/edge-ocr/inbox").is_dir():
        pytest.skip("this machine has the default watched folder")
    path = tmp_path / "edge-ocr.yaml"
    path.write_text("")
    msg = problems(path)
    assert "source.folder.path: folder not found, got '/var/lib/edge-ocr/inbox'" in msg
    if not Path("/var/lib/edge-ocr").is_dir():
        assert "outbox.path: folder /var/lib/edge-ocr not found" in msg


@pytest.mark.parametrize("key", ["done_dir", "failed_dir"])
def test_done_or_failed_folder_may_not_be_the_watched_folder(
    write: Any, tmp_path: Path, key: str
) -> None:
    """A file moved into the folder it came from would be read again and again."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    msg = problems(write({"source": {"folder": {"path": str(inbox), key: "./inbox/"}}}))
    assert f"source.folder.{key}: must not be the watched folder itself" in msg


def test_detect_mode_on_and_off_may_be_written_bare(write: Any) -> None:
    """YAML reads a bare `on` / `off` as true / false; both still mean the words."""
    for word in ("on", "off"):
        path = write({})
        path.write_text(path.read_text() + f"detect:\n  mode: {word}\n")
        assert config.load(path, environ={}).detect.mode == word


def test_video_file_path_is_relative_to_the_config_and_must_exist(
    write: Any, tmp_path: Path
) -> None:
    """source.opencv.url: a path is found beside the config file; a missing one is named; a
    stream URL is kept as written."""
    (tmp_path / "clip.mp4").write_bytes(b"x")
    cfg = config.load(
        write({"source": {"type": "opencv", "opencv": {"url": "clip.mp4"}}}), environ={}
    )
    assert cfg.source.opencv.url == str(tmp_path / "clip.mp4")
    msg = problems(write({"source": {"type": "opencv", "opencv": {"url": "gone.mp4"}}}))
    assert "source.opencv.url: file not found" in msg
    url = "rtsp://camera.local:554/stream1"
    assert (
        config.load(
            write({"source": {"type": "opencv", "opencv": {"url": url}}}), environ={}
        ).source.opencv.url
        == url
    )


def test_outbox_path_that_is_a_folder_is_refused(write: Any, tmp_path: Path) -> None:
    """outbox.path names the queue's file; a folder there is a config error, not a crash."""
    (tmp_path / "queue").mkdir()
    msg = problems(write({"outbox": {"path": str(tmp_path / "queue")}}))
    assert "outbox.path: must name the outbox file, not a folder" in msg


@pytest.mark.parametrize("host", ["localhost:1883", "mqtt://broker.local", "broker local"])
def test_broker_host_with_a_port_or_scheme_is_refused(write: Any, host: str) -> None:
    """mqtt.host is the name or address alone: a port or scheme in it would never connect."""
    msg = problems(write({"mqtt": {"host": host}}))
    assert "mqtt.host: must be a host name or IP address alone" in msg


@pytest.mark.parametrize("host", ["localhost", "192.168.1.20", "broker.example.org", "::1"])
def test_broker_host_names_and_addresses_are_accepted(write: Any, host: str) -> None:
    assert config.load(write({"mqtt": {"host": host}}), environ={}).mqtt.host == host
