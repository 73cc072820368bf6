"""edge-ocr: read labels and nameplates from a camera and publish the text over MQTT."""

__version__ = "0.1.0"
