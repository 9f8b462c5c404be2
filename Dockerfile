# callwatch: the live service beside the PBX (HEP on 9060/udp, HTTP on 8080).
# Build:  docker build -t callwatch .
# Run:    docker run -v ./site.toml:/etc/callwatch/site.toml:ro -v callwatch:/var/lib/callwatch \
#           -p 9060:9060/udp -p 127.0.0.1:8080:8080 callwatch
# Other commands: the entrypoint is `callwatch`, the default command `serve`; e.g.
#         docker run --rm -v ./site.toml:/etc/callwatch/site.toml:ro -v callwatch:/var/lib/callwatch \
#           callwatch token create --role admin --config /etc/callwatch/site.toml
# The image runs the compiled core (docs/compiled-core.md): the first stage builds the wheel
# with mypyc and a C compiler, the second installs it without either.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY build_backend ./build_backend
COPY src ./src
RUN CALLWATCH_COMPILE=1 pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CALLWATCH_DATA_DIR=/var/lib/callwatch

COPY --from=build /wheels /wheels
RUN pip install /wheels/callwatch-*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/callwatch --shell /usr/sbin/nologin callwatch \
    && mkdir -p /var/lib/callwatch /etc/callwatch \
    && chown callwatch:callwatch /var/lib/callwatch

WORKDIR /var/lib/callwatch
USER callwatch
VOLUME ["/var/lib/callwatch"]
EXPOSE 9060/udp 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CALLWATCH_HTTP_PORT', '8080'), timeout=4)"

ENTRYPOINT ["callwatch"]
CMD ["serve", "--config", "/etc/callwatch/site.toml"]
