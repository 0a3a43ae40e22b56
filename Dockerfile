# One image for every dfscan role in docker-compose.yml: worker, scheduler CLI, migrations,
# Flower. CPU only; the model bundle ships inside the package (models/default), research
# data never enters the image (see .dockerignore).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libgomp: OpenMP runtime for the SVM and dlib wheels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, pinned and hash-checked (runtime + the [monitor] extra for Flower;
# scripts/lock re-pins them from pyproject.toml): a source change keeps this layer.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY common ./common
COPY models ./models
COPY worker ./worker
COPY scheduler ./scheduler
COPY alembic ./alembic
RUN pip install --no-deps .

# Never run as root: a worker parses untrusted media.
RUN useradd --system --uid 10001 --home-dir /home/dfscan --create-home dfscan
USER dfscan

ENTRYPOINT ["dfscan"]
CMD ["--help"]
