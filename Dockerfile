# mailroom: one image for migrations, watchers, workers, web and retraining.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      tesseract-ocr tesseract-ocr-deu poppler-utils fonts-dejavu-core wngerman \
 && rm -rf /var/lib/apt/lists/*

# Installed like the wheel (not editable), and the sources removed afterwards: the image
# runs exactly what `pip install mailroom-*.whl` runs, package data included.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mailroom ./mailroom
COPY intake ./intake
COPY workers ./workers
COPY classifiers ./classifiers
COPY config ./config
RUN pip install --no-cache-dir . \
 && cd / && rm -rf /src \
 && useradd --create-home --uid 1000 mailroom \
 && mkdir -p /data && chown mailroom /data

USER mailroom
WORKDIR /home/mailroom
ENV MAILROOM_DATA_DIR=/data \
    OMP_THREAD_LIMIT=1 \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["mailroom"]
CMD ["--help"]
