"""Structured logging: one JSON object per line (python-json-logger).

`json_logging_config()` is the LOGGING of the production settings and, with
`gunicorn=True`, gunicorn's `logconfig_dict`, so the web server's access and error logs come
out in the same shape as the application's.
"""

from collections.abc import Mapping

from pythonjsonlogger.json import JsonFormatter

# gunicorn access-log atoms -> our field names (see gunicorn's access_log_format docs).
ACCESS_LOG_FIELDS = {
    "h": "remote_addr",
    "m": "method",
    "U": "path",
    "q": "query",
    "s": "status",
    "B": "response_bytes",
    "M": "duration_ms",
    "a": "user_agent",
    "{x-forwarded-for}i": "forwarded_for",
    "{x-request-id}i": "request_id",
}
INTEGER_FIELDS = {"status", "duration_ms"}


class JsonLogFormatter(JsonFormatter):
    """JSON lines; for gunicorn's access log, each request attribute is its own key."""

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            for atom, field in ACCESS_LOG_FIELDS.items():
                value = record.args[atom]
                if value in (None, "-", ""):
                    continue
                log_data[field] = int(value) if field in INTEGER_FIELDS else value


def json_logging_config(level: str = "INFO", *, gunicorn: bool = False) -> dict:
    """A dictConfig: everything to stderr as JSON lines at `level`."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": JsonLogFormatter,
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": "time",
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own "django" handlers print only with DEBUG or mail ADMINS; with
            # none left here its records reach the root (JSON) handler.
            "django": {"level": level},
        },
    }
    if gunicorn:
        for name in ("gunicorn.error", "gunicorn.access"):
            config["loggers"][name] = {"handlers": ["console"], "level": level, "propagate": False}
    return config
