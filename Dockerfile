# The flow image: every deployment in prefect.yaml runs in it on the `ecs` work pool, and the
# worker and listener services use it too.  Dependencies come only from uv.lock (the lock every
# environment of the project installs from); no secret is baked in (Slack/Jira/Prefect
# credentials are injected at task start from Secrets Manager).
#   docker build -t finops-flows:$(git rev-parse --short HEAD) .
FROM python:3.11-slim-bookworm

# Bytecode is compiled once at build (UV_COMPILE_BYTECODE) and never written at run time
# (PYTHONDONTWRITEBYTECODE): without it every task, every scan shard, recompiled Prefect's
# imports at start (bench/RESULTS.md, bench_scan_speed: +3.9 s of CPU at 1,000 instances).

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PREFECT_HOME=/home/finops/.prefect \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /opt/finops

# uv itself, pinned by hash, then the runtime dependencies exactly as locked (--locked: the lock
# must match pyproject.toml; --no-dev: no test or lint tool), cached while only the code changes.
COPY tools/uv/requirements.txt /tmp/uv-requirements.txt
RUN pip install --no-deps --require-hashes --requirement /tmp/uv-requirements.txt \
    && rm /tmp/uv-requirements.txt
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

COPY finops ./finops
COPY flows ./flows
COPY tasks ./tasks
COPY sandbox ./sandbox
COPY deployments ./deployments
COPY prefect.yaml ./
RUN uv sync --locked --no-dev --no-editable && uv pip check --python /opt/venv/bin/python

RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin finops
USER 10001:10001

# Flow runs are started by the ECS worker with its own command; this is for a quick check.
CMD ["finops", "--version"]
