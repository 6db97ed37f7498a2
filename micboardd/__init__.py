"""micboardd: live monitoring of Shure wireless microphones for venues."""

__version__ = "0.1.0"
