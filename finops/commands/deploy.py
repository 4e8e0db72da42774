"""`finops listen` and `finops deploy check|pool-template`: the production event path and deploys.

``finops listen`` long-polls the SQS queue that EventBridge and SNS feed, turns each message into
a Prefect event (the deployment triggers in prefect.yaml start the flows) and dead-letters the
rest with a reason.  ``finops deploy check`` validates prefect.yaml, the local pool's file and the
ECS base job template; ``finops deploy pool-template`` fills the template from Terraform outputs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path

import typer

from finops.commands.errors import fail, one_line
from tasks.settings import load_settings

deploy_app = typer.Typer(
    help="Check the deployment files and render the ECS work-pool template.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the CLI."""
    app.command("listen")(listen)
    app.add_typer(deploy_app, name="deploy")


#: SQS error codes meaning "there is no queue at that URL".
NO_QUEUE_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "InvalidAddress",
        "InvalidParameterValue",
    }
)


def _check_queues(queue: str, dead_letters: str) -> None:
    """Both queues answer, before the listener starts (one request each, no retries)."""
    import boto3
    from botocore.exceptions import ClientError

    from tasks.aws.common import error_code
    from tasks.aws.session import boto_config
    from tasks.events.sqs import region_of_queue

    names = {
        queue: "FINOPS_EVENTS__QUEUE_URL (--queue-url)",
        dead_letters: "FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL (--dead-letter-queue-url)",
    }
    for url, setting in names.items():
        client = boto3.Session().client(
            "sqs",
            region_name=region_of_queue(url),
            config=boto_config(retries={"mode": "standard", "max_attempts": 1}),
        )
        try:
            client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        except ClientError as error:
            code = error_code(error)
            if code not in NO_QUEUE_CODES:
                raise
            raise fail(
                f"{setting} {url!r}: no such queue ({code}); use the URL Terraform outputs "
                "(events_queue_url, events_dlq_url)"
            ) from None


def listen(
    queue_url: str = typer.Option("", help="SQS queue URL; default FINOPS_EVENTS__QUEUE_URL."),
    dead_letter_queue_url: str = typer.Option(
        "", help="Dead-letter queue URL; default FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL."
    ),
    once: bool = typer.Option(False, "--once", help="Poll once, settle what came, and exit."),
    wait_time_s: int | None = typer.Option(None, help="Long-poll wait (0-20 s)."),
) -> None:
    """Turn queue messages into Prefect events until stopped (SIGTERM/Ctrl-C finish the batch)."""
    from tasks.events.emit import PrefectEmitter
    from tasks.events.listen import ListenerConfig, run_listener
    from tasks.events.sqs import sqs_client

    settings = load_settings().events
    queue = queue_url or settings.queue_url
    dead_letters = dead_letter_queue_url or settings.dead_letter_queue_url
    if not queue or not dead_letters:
        raise fail(
            "no queue: set FINOPS_EVENTS__QUEUE_URL and FINOPS_EVENTS__DEAD_LETTER_QUEUE_URL "
            "(terraform outputs events_queue_url and events_dlq_url) or pass --queue-url and "
            "--dead-letter-queue-url"
        )
    wait = settings.wait_time_s if wait_time_s is None else wait_time_s
    if not 0 <= wait <= 20:
        raise fail(f"--wait-time-s {wait}: SQS long polls wait 0 to 20 seconds")
    _check_queues(queue, dead_letters)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = ListenerConfig(
        queue_url=queue,
        dead_letter_queue_url=dead_letters,
        max_messages=settings.max_messages,
        wait_time_s=wait,
        visibility_timeout_s=settings.visibility_timeout_s,
    )
    stop = threading.Event()
    # ECS stops a task with SIGTERM: finish the batch in hand, then exit (no message half done).
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    typer.echo(f"listening on {queue} (dead letters: {dead_letters})")
    totals = run_listener(
        sqs_client(queue), config, PrefectEmitter(), stop=stop, max_polls=1 if once else None
    )
    typer.echo(
        f"received {totals.received}, emitted {totals.emitted}, "
        f"dead-lettered {totals.dead_lettered}"
    )


@deploy_app.command("check")
def check(
    root: Path = typer.Option(Path("."), help="Project folder holding prefect.yaml."),
) -> None:
    """Validate prefect.yaml, deployments/prefect.local.yaml and the ECS base job template."""
    from deployments.project import check_project, load_deployments

    if not (root / "prefect.yaml").is_file():
        raise fail(f"--root {root}: no prefect.yaml there; give the project folder")
    problems = check_project(root.resolve(), image=os.environ.get("FINOPS_IMAGE"))
    if len(problems) > 1:  # the list on stdout, the error in one line on stderr
        for problem in problems:
            typer.echo(f"problem: {problem}")
        raise fail(
            f"{len(problems)} problems in the deployment files (listed above), "
            f"first: {one_line(problems[0])}",
            1,
        )
    if problems:
        raise fail(one_line(problems[0]), 1)
    for deployment in load_deployments(root.resolve() / "prefect.yaml", root.resolve()):
        schedule = ", ".join(
            f"{s['cron']} ({'on' if s.get('active', True) else 'off'})"
            for s in deployment.schedules
        )
        events = ", ".join(deployment.trigger_events)
        typer.echo(
            f"{deployment.flow_name}/{deployment.name:<22} pool={deployment.pool} "
            f"schedule=[{schedule}] triggers=[{events}]"
        )
    typer.echo("deployment files are valid")


@deploy_app.command("pool-template")
def pool_template(
    terraform_output: Path = typer.Option(
        ..., help="File with `terraform output -json` of infra/envs/<env>."
    ),
    output: Path = typer.Option(
        Path("ecs-base-job-template.rendered.json"), "-o", "--output", help="Where to write."
    ),
) -> None:
    """Write the ECS base job template with this environment's cluster, roles, network, logs."""
    from deployments.project import (
        DeploymentConfigError,
        load_pool_template,
        render_pool_template,
    )

    given = f"--terraform-output {terraform_output}"
    how = "write it with `terraform output -json > outputs.json` in infra/envs/<env>"
    try:
        outputs = json.loads(terraform_output.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise fail(f"{given}: no such file; {how}") from None
    except OSError as error:
        raise fail(f"{given}: cannot be read ({error.strerror}); {how}") from None
    except ValueError as error:
        raise fail(f"{given}: not the JSON of `terraform output -json` ({error}); {how}") from None
    try:
        rendered = render_pool_template(load_pool_template(), outputs)
    except DeploymentConfigError:
        raise
    except (TypeError, ValueError, AttributeError) as error:
        raise fail(f"{given}: not the JSON of `terraform output -json` ({error})") from None
    output.write_text(json.dumps(rendered, indent=2) + "\n", encoding="utf-8")
    typer.echo(
        f"wrote {output}; next: prefect work-pool create ecs --type ecs "
        f"--base-job-template {output} (or `prefect work-pool update ecs ...`)"
    )


@deploy_app.command("results-block")
def results_block(
    bucket: str = typer.Option(..., help="The results bucket (terraform output results_bucket)."),
    name: str = typer.Option("finops-results", help="Block name; flows use s3-bucket/<name>."),
    folder: str = typer.Option("results", help="Key prefix inside the bucket."),
) -> None:
    """Create (or update) the S3 block that persists flow results on ECS.

    A run suspended for approval resumes in a new Fargate task and reads its results from
    there; the credentials are the task role's (no key is stored in the block).
    """
    if not bucket or "/" in bucket:
        raise fail(f"--bucket {bucket!r}: give the bucket name only, e.g. finops-flow-results-1234")
    from prefect_aws import AwsCredentials, S3Bucket

    S3Bucket(bucket_name=bucket, bucket_folder=folder, credentials=AwsCredentials()).save(
        name, overwrite=True
    )
    typer.echo(
        f"saved block s3-bucket/{name} -> s3://{bucket}/{folder}; flows use it through "
        f"PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK=s3-bucket/{name}"
    )
