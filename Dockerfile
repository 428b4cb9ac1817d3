# syntax=docker/dockerfile:1
# One image for every Tickflow service. The command picks the service:
#   docker run tickflow:0.1.0 python -m services.ingest      (the default)
#   docker run tickflow:0.1.0 python -m services.processor
#   docker run tickflow:0.1.0 python -m services.generator
#   docker run tickflow:0.1.0 python -m services.dashboard
#   docker run tickflow:0.1.0 python -m services.admin {topics,migrate,status}
# Build: docker build -t tickflow:0.1.0 .   (the tag is the version in pyproject.toml)

# Same Python minor as the lock (requires-python = 3.11); pin by digest in your registry mirror.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
# Node (an LTS line, same Debian release) only installs the dashboard page's npm packages; none of
# it reaches the final image. Pin by digest in your registry mirror as well.
ARG NODE_IMAGE=node:24.20.0-bookworm-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml requirements.lock ./
# The services' runtime dependencies (pyproject [project].dependencies), every one at the version
# requirements.lock pins (the lock also pins Airflow and the test tools: they stay out of this image).
# The constraints are the lock's name==version lines (its hashes verify `make install`, not this
# image: pip cannot check hashes given as constraints). pip check fails the build if the lock and
# the dependencies ever disagree.
RUN python -m venv /opt/venv \
 && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > runtime.txt \
 && sed -n 's/^\([A-Za-z0-9][^ ]*==[^ ]*\).*/\1/p' requirements.lock > constraints.txt \
 && /opt/venv/bin/pip install --constraint constraints.txt --requirement runtime.txt \
 && /opt/venv/bin/pip check

# The dashboard page's third-party JavaScript (lightweight-charts), exactly as package-lock.json
# pins it (npm ci checks every integrity hash); --omit=dev leaves out the browser-test tooling.
# Nothing built or minified is in the repository: the files come from the npm registry here.
FROM ${NODE_IMAGE} AS web
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /web
COPY services/dashboard/web/package.json services/dashboard/web/package-lock.json ./
# Fails the build if the file the dashboard serves is not where services/dashboard/page.py expects it.
RUN npm ci --omit=dev --ignore-scripts \
 && test -f node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tickflow" \
      org.opencontainers.image.description="Tickflow services: generator, ingest, processor, dashboard, admin"
RUN groupadd --system --gid 10001 tickflow \
 && useradd --system --uid 10001 --gid tickflow --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin tickflow
COPY --from=build /opt/venv /opt/venv
# Only the production node_modules (lightweight-charts and its dependency, with their licences),
# owned by root: read-only for the service user.
COPY --from=web /web/node_modules /opt/tickflow-web/node_modules
WORKDIR /app
# Source layout is kept: migrations find sql/ next to the services package.
COPY services/ services/
COPY sql/ sql/
# Byte-code compiled at build time, so the root filesystem can be read-only at run time.
RUN /opt/venv/bin/python -m compileall -q services
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TICKFLOW_INGEST_HOST=0.0.0.0 \
    TICKFLOW_INGEST_OPS_HOST=0.0.0.0 \
    TICKFLOW_GENERATOR_HOST=0.0.0.0 \
    TICKFLOW_PROCESSOR_METRICS_HOST=0.0.0.0 \
    TICKFLOW_DASHBOARD_HOST=0.0.0.0 \
    TICKFLOW_ALPACA_OPS_HOST=0.0.0.0 \
    TICKFLOW_DASHBOARD_VENDOR_DIR=/opt/tickflow-web/node_modules
USER 10001:10001
# ingest, generator, processor (health and metrics), dashboard, the Alpaca feed's operations port,
# ingest's operations port (metrics, docs)
EXPOSE 8000 8001 8002 8003 8004 8010
CMD ["python", "-m", "services.ingest"]
