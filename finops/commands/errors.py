"""A user's mistake is one line: ``error: <what is wrong; what to do>`` on stderr, an exit status.

Every ``finops`` command runs inside :func:`one_line_errors` (the CLI's root group does it), so a
command only raises: :func:`fail` for what it checks itself, or the project's typed errors and the
known library errors (no AWS credentials, an unreachable endpoint, a broken store ...), which are
recognised here by class name, without importing botocore, SQLAlchemy or Prefect.  Anything else
is a bug and keeps its traceback.

Exit status: 2 when the user's input is wrong (an option, a setting, a file, an id), 1 when the
environment is (no credentials, an endpoint that does not answer, an unreadable store).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from tasks.settings import Settings

#: The user's input is wrong.
USAGE = 2
#: The environment is wrong (credentials, network, a store that cannot be read).
ENVIRONMENT = 1

CREDENTIALS_HINT = (
    "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
    "or run where an instance or task role is attached"
)


class CliError(Exception):
    """A mistake a command found itself; its message is the one line shown."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = USAGE) -> CliError:
    """The error to raise for a wrong input: ``raise fail("--date 'x' is not a day; ...")``."""
    return CliError(message, code)


def one_line(text: str) -> str:
    """Text on one line (a library's message can span several).

    Example:
        >>> one_line("connection failed:\\n  is the server running?")
        'connection failed: is the server running?'
    """
    return " ".join(text.split())


def _names(error: BaseException) -> set[str]:
    return {f"{cls.__module__}.{cls.__qualname__}" for cls in type(error).__mro__}


def _endpoint(error: BaseException) -> str:
    url = str(getattr(error, "kwargs", {}).get("endpoint_url", "") or "")
    configured = os.environ.get("AWS_ENDPOINT_URL", "")
    where = f"AWS at {url}" if url else "AWS"
    if configured:
        return f"cannot reach {where}: AWS_ENDPOINT_URL is {configured!r}; fix it or unset it"
    return f"cannot reach {where}: check the network or proxy (HTTPS_PROXY), or set AWS_REGION"


def _client_error(error: Any) -> tuple[str, int]:
    info = error.response.get("Error", {})
    code = str(info.get("Code", "ClientError"))
    message = one_line(str(info.get("Message", "")))
    operation = getattr(error, "operation_name", "the request")
    if code in {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "InvalidAccessKeyId",
    }:
        return (
            f"AWS rejected the credentials ({code}: {message}); refresh them "
            f"(e.g. `aws sso login`) or {CREDENTIALS_HINT}",
            ENVIRONMENT,
        )
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
        return (
            f"AWS denied {operation} ({message}); grant it to the role you run as "
            "(the policies in infra/modules/iam)",
            ENVIRONMENT,
        )
    return f"AWS {operation} failed: {code}: {message}", ENVIRONMENT


def _findings_url() -> str:
    from tasks.settings import SettingsError, load_settings

    try:
        return f" {load_settings().findings_url}"
    except SettingsError:
        return ""


def _database_error(error: Any) -> tuple[str, int]:
    cause = getattr(error, "orig", None) or error
    detail = one_line(str(cause).split("\n", 1)[0])
    return (
        f"the findings store{_findings_url()} cannot be used ({detail}); point "
        "FINOPS_FINDINGS_DB_URL or FINOPS_DATA_DIR at a good one, or move the broken file away",
        ENVIRONMENT,
    )


#: What to do about a file that cannot be used, by the kind of OSError.
_FILE_HINTS: dict[type[OSError], str] = {
    FileNotFoundError: "check the path",
    IsADirectoryError: "give a file, not a folder",
    NotADirectoryError: "a part of the path is a file, not a folder",
    PermissionError: "check its permissions or give another path",
}


def _os_error(error: OSError) -> tuple[str, int]:
    if error.filename:
        hint = next((h for kind, h in _FILE_HINTS.items() if isinstance(error, kind)), "")
        reason = error.strerror or one_line(str(error))
        return f"{error.filename}: {reason}" + (f"; {hint}" if hint else ""), ENVIRONMENT
    return one_line(str(error)) or type(error).__name__, ENVIRONMENT


def _http(error: Any) -> tuple[str, int]:
    try:
        url = str(error.request.url)
    except RuntimeError:  # no request attached
        url = ""
    api = os.environ.get("PREFECT_API_URL", "")
    detail = one_line(str(error)) or type(error).__name__
    if api and url.startswith(api.rstrip("/")):
        return (
            f"cannot reach the Prefect API at {api} ({detail}); start the server "
            "(`prefect server start`) or fix PREFECT_API_URL",
            ENVIRONMENT,
        )
    return f"cannot reach {url or 'the server'} ({detail}); check the URL and the network", 1


def _message(code: int) -> Callable[[BaseException], tuple[str, int]]:
    return lambda error: (one_line(str(error)), code)


#: Known errors by class (``module.QualName``, matched through the class's bases), most specific
#: first: what the user reads and the exit status.
KNOWN: tuple[tuple[str, Callable[[Any], tuple[str, int]]], ...] = (
    ("tasks.settings.SettingsError", _message(USAGE)),
    ("tasks.idle.registry.CheckConfigError", _message(USAGE)),
    ("tasks.anomalies.scoring.ScoreInputError", _message(USAGE)),
    ("tasks.findings.store.TransitionError", _message(USAGE)),
    ("tasks.remediation.approval.FormError", _message(USAGE)),
    ("deployments.project.DeploymentConfigError", _message(USAGE)),
    ("tasks.notify.secrets.SecretError", _message(USAGE)),
    ("tasks.costs.export.ExportError", _message(ENVIRONMENT)),
    ("tasks.iac.state.StateReadError", _message(ENVIRONMENT)),
    ("tasks.costs.quality.QualityError", _message(ENVIRONMENT)),
    ("tasks.costs.store.CostStoreError", _message(ENVIRONMENT)),
    ("tasks.costs.cost_explorer.CostExplorerError", _message(ENVIRONMENT)),
    ("tasks.costs.athena.AthenaError", _message(ENVIRONMENT)),
    ("tasks.remediation.audit.AuditLogError", _message(ENVIRONMENT)),
    ("finops.demo.DemoError", _message(ENVIRONMENT)),
    ("sandbox.state.SandboxError", _message(ENVIRONMENT)),
    (
        "botocore.exceptions.NoCredentialsError",
        lambda _: (f"no AWS credentials found; {CREDENTIALS_HINT}", ENVIRONMENT),
    ),
    (
        "botocore.exceptions.PartialCredentialsError",
        lambda e: (f"{e}; {CREDENTIALS_HINT}", ENVIRONMENT),
    ),
    (
        "botocore.exceptions.ProfileNotFound",
        lambda e: (
            f"AWS_PROFILE {e.kwargs.get('profile', '')!r} is in neither ~/.aws/config nor "
            "~/.aws/credentials; fix AWS_PROFILE or unset it",
            USAGE,
        ),
    ),
    (
        "botocore.exceptions.NoRegionError",
        lambda _: ("no AWS region; set AWS_REGION, e.g. AWS_REGION=us-east-1", USAGE),
    ),
    (
        "botocore.exceptions.TokenRetrievalError",
        lambda e: (f"{one_line(str(e))}; run `aws sso login` and try again", ENVIRONMENT),
    ),
    (
        "botocore.exceptions.SSOError",
        lambda e: (f"{one_line(str(e))}; run `aws sso login` and try again", ENVIRONMENT),
    ),
    ("botocore.exceptions.EndpointConnectionError", lambda e: (_endpoint(e), ENVIRONMENT)),
    ("botocore.exceptions.ConnectTimeoutError", lambda e: (_endpoint(e), ENVIRONMENT)),
    ("botocore.exceptions.ConnectionClosedError", lambda e: (_endpoint(e), ENVIRONMENT)),
    ("botocore.exceptions.ReadTimeoutError", lambda e: (_endpoint(e), ENVIRONMENT)),
    ("botocore.exceptions.ClientError", _client_error),
    ("botocore.exceptions.BotoCoreError", _message(ENVIRONMENT)),
    (
        "sqlalchemy.exc.ArgumentError",
        lambda e: (
            f"setting FINOPS_FINDINGS_DB_URL: {one_line(str(e))}; use an SQLAlchemy URL such as "
            "sqlite:///findings.db or postgresql+psycopg://user@host/db",
            USAGE,
        ),
    ),
    (
        "sqlalchemy.exc.NoSuchModuleError",
        lambda e: (f"setting FINOPS_FINDINGS_DB_URL: {one_line(str(e))}", USAGE),
    ),
    ("sqlalchemy.exc.DBAPIError", _database_error),
    ("sqlalchemy.exc.SQLAlchemyError", _database_error),
    ("httpx.TransportError", _http),
    ("prefect.exceptions.PrefectHTTPStatusError", _message(ENVIRONMENT)),
    ("builtins.OSError", _os_error),
)


def describe(error: BaseException) -> tuple[str, int] | None:
    """The one line and exit status for a known error, or None for a bug (keep its traceback).

    Example:
        >>> from tasks.settings import SettingsError
        >>> describe(SettingsError("setting FINOPS_X: no"))
        ('setting FINOPS_X: no', 2)
        >>> describe(KeyError("x")) is None
        True
    """
    if isinstance(error, CliError):
        return one_line(str(error)), error.code
    names = _names(error)
    for name, render in KNOWN:
        if name in names:
            return render(error)
    return None


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn a known error into ``error: <message>`` on stderr and ``typer.Exit(code)``."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
        raise  # click's own (exit, usage errors) are the root group's; a closed pipe is Typer's
    except Exception as error:
        known = describe(error)
        if known is None:
            raise
        message, code = known
        typer.echo(f"error: {_redacted(message)}", err=True)
        raise typer.Exit(code) from None


def _redacted(message: str) -> str:
    """The line with secret-shaped text hidden (a token in a library's message, a URL password):
    secrets never reach the terminal, whichever error carries them."""
    from tasks.settings import redact

    return redact(message)


def usage_line(error: typer.TyperException) -> str:
    """A usage error (a wrong option value, a missing argument ...) as one line.

    Example:
        >>> usage_line(typer.BadParameter("'xml' is not one of 'table', 'json'."))
        "Invalid value: 'xml' is not one of 'table', 'json'."
    """
    message = one_line(error.format_message()).replace("Value error, ", "")
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        return f"{message} (see `{ctx.command_path} --help`)"
    return message


def _shows_help(error: BaseException) -> bool:
    # `finops` or `finops notify` alone print their help: that is no mistake to report
    return type(error).__name__ == "NoArgsIsHelpError"


class OneLineErrorsGroup(TyperGroup):
    """The root group: every command, and every wrong option, ends in one line on stderr."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as error:
            if _shows_help(error):
                raise
            typer.echo(f"error: {usage_line(error)}", err=True)
            raise typer.Exit(error.exit_code) from None

    def invoke(self, ctx: Any) -> Any:
        try:
            with one_line_errors():
                return super().invoke(ctx)
        except typer.TyperException as error:
            if _shows_help(error):
                raise
            typer.echo(f"error: {usage_line(error)}", err=True)
            raise typer.Exit(error.exit_code) from None


class _KnownErrorsOffConsole(logging.Filter):
    """Keeps a flow's known failure off the terminal (the CLI prints it in one line); the
    Prefect API still gets every record, traceback included."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and describe(error) is not None:
            self.dropped = True
            return False
        # the run's closing line repeats the error just dropped
        return not (self.dropped and record.getMessage().startswith("Finished in state Failed"))


@contextmanager
def quiet_flow_errors() -> Iterator[None]:
    """While a flow runs in this process, a known error it raises is not logged to the terminal
    with its traceback by Prefect: the command reports it in one line instead.

    Call after importing the flow (Prefect's logging is then set up).
    """
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *logging.root.manager.loggerDict.values()]
    handlers = {
        handler
        for logger in loggers
        if isinstance(logger, logging.Logger)
        for handler in logger.handlers
        if isinstance(handler, PrefectConsoleHandler)
    }
    quiet = _KnownErrorsOffConsole()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def require_aws(settings: Settings, region: str | None = None) -> str:
    """Check, before any flow starts, that AWS answers with these credentials: one request.

    Returns the caller's account id.  Raises the botocore error (no credentials, an unreachable
    endpoint, rejected credentials), which :func:`one_line_errors` turns into one line.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import NoCredentialsError

    session = boto3.Session()
    if session.get_credentials() is None:
        raise NoCredentialsError()
    config = Config(
        retries={"mode": "standard", "max_attempts": 1},
        connect_timeout=min(settings.aws.connect_timeout_s, 10.0),
        read_timeout=min(settings.aws.read_timeout_s, 30.0),
    )
    sts = session.client(
        "sts", region_name=region or session.region_name or "us-east-1", config=config
    )
    return str(sts.get_caller_identity()["Account"])
