# mailroom: one image for migrations, watchers, workers, web and retraining.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-deu tesseract-ocr-osd poppler-utils fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY mailroom ./mailroom
COPY intake ./intake
COPY workers ./workers
COPY classifiers ./classifiers
COPY storage ./storage
COPY web ./web
COPY config ./config
RUN pip install --no-cache-dir -e . \
 && useradd --create-home --uid 1000 mailroom \
 && mkdir -p /data && chown mailroom /data

USER mailroom
ENV MAILROOM_DATA_DIR=/data \
    OMP_THREAD_LIMIT=1 \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["mailroom"]
CMD ["--help"]
