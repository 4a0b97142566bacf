# marketgraph: the gateway image. Front-end assets (GraphiQL, the dashboard's chart) come from
# the npm lock file, Python dependencies from requirements.lock; nothing is fetched at run time.
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8000 \
    GRAPHIQL_ASSETS_DIR=/app/node_modules DASHBOARD_DIR=/app/dashboard
WORKDIR /app
RUN useradd --create-home --uid 10001 marketgraph
COPY requirements.lock pyproject.toml README.md ./
COPY gateway ./gateway
COPY schema ./schema
COPY resolvers ./resolvers
COPY storage ./storage
RUN pip install --no-cache-dir -c requirements.lock .
COPY --from=assets /app/node_modules ./node_modules
COPY dashboard ./dashboard
USER marketgraph
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["marketgraph", "serve"]
