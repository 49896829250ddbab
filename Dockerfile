# Slim CPU image for the ShopTag service (and CLI).
#   docker build -t shoptag .
#   docker run -p 8000:8000 -v shoptag-cache:/cache -v $PWD/data:/data \
#     -e SHOPTAG_SERVICE__API_KEYS='[{"key": "...", "role": "merchant"}]' shoptag
# /data/index must hold an index from `shoptag index build`; jobs and product images are
# kept next to it in /data/index.state.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HOME=/cache/huggingface TORCH_HOME=/cache/torch SHOPTAG_FETCH__CACHE_DIR=/cache/downloads \
    XDG_CACHE_HOME=/cache

# CPU-only torch wheels keep the image small; ShopTag itself needs no GPU. The versions are
# constraints.txt's (2.14.1+cpu satisfies its torch==2.14.1), the rest comes from it below.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY shoptag ./shoptag
COPY model ./model
COPY indexing ./indexing
COPY video ./video
COPY tagging ./tagging
COPY api ./api
COPY evaluation ./evaluation
COPY batch ./batch
RUN pip install -c constraints.txt . && useradd --create-home --uid 10001 shoptag && mkdir -p /cache /data \
    && chown shoptag /cache /data

USER shoptag
# Model weights (Hugging Face / open_clip cache), downloaded product images, indexes and service
# state live on volumes.
VOLUME ["/cache", "/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"]
ENTRYPOINT ["shoptag"]
# Binding 0.0.0.0 needs API keys (SHOPTAG_SERVICE__API_KEYS): without them serve refuses to start.
CMD ["serve", "--index", "/data/index", "--host", "0.0.0.0", "--port", "8000"]
