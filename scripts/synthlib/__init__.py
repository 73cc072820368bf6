"""Building blocks of the synthetic text-line generator (scripts/synth.py)."""
