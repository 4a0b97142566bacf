# marketgraph: the gateway image. Three stages: front-end assets from the npm lock file, Python
# packages from requirements.lock into a virtual environment, and a slim runtime holding both and
# nothing else (no compilers, no npm, no curl). GraphiQL, Swagger UI, ReDoc and the dashboard's
# chart are served from the image itself; nothing is fetched at run time.
# Build: docker build -t marketgraph .   Run: see docker-compose.yml and the README's Deployment.

FROM node:20.18-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM python:3.11.11-slim-bookworm AS python
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/marketgraph
WORKDIR /build
COPY pyproject.toml requirements.lock README.md ./
COPY domain ./domain
COPY upstream ./upstream
COPY coordination ./coordination
COPY storage ./storage
COPY resolvers ./resolvers
COPY schema ./schema
COPY gateway ./gateway
# runtime dependencies only, each at the version requirements.lock pins
RUN /opt/marketgraph/bin/pip install --no-cache-dir -c requirements.lock .

FROM python:3.11.11-slim-bookworm
ENV PATH=/opt/marketgraph/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=2 \
    LOG_FORMAT=json \
    GRAPHIQL_ASSETS_DIR=/app/node_modules \
    DASHBOARD_DIR=/app/dashboard
RUN useradd --create-home --uid 10001 --user-group marketgraph
WORKDIR /app
COPY --from=python /opt/marketgraph /opt/marketgraph
COPY --from=assets /build/node_modules ./node_modules
COPY dashboard ./dashboard
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["marketgraph-healthcheck"]
CMD ["marketgraph", "serve"]
