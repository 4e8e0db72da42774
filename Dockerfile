# The flow image: every deployment in prefect.yaml runs in it on the `ecs` work pool, and the
# worker and listener services use it too.  Dependencies come only from the lock; no secret is
# baked in (Slack/Jira/Prefect credentials are injected at task start from Secrets Manager).
#   docker build -t finops-flows:$(git rev-parse --short HEAD) .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_HOME=/home/finops/.prefect

WORKDIR /opt/finops

# Dependencies first (cached while only the code changes), exactly as pinned, nothing resolved.
COPY deployments/requirements.lock /tmp/requirements.lock
RUN pip install --no-deps --requirement /tmp/requirements.lock && rm /tmp/requirements.lock

COPY pyproject.toml README.md ./
COPY finops ./finops
COPY flows ./flows
COPY tasks ./tasks
COPY sandbox ./sandbox
COPY deployments ./deployments
COPY prefect.yaml ./
RUN pip install --no-deps . && pip check

RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin finops
USER 10001:10001

# Flow runs are started by the ECS worker with its own command; this is for a quick check.
CMD ["finops", "--version"]
