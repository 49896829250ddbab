# Slim CPU image for the ShopTag CLI and service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HOME=/cache/huggingface TORCH_HOME=/cache/torch

# CPU-only torch wheels keep the image small; ShopTag itself needs no GPU.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shoptag ./shoptag
COPY model ./model
COPY indexing ./indexing
COPY video ./video
COPY tagging ./tagging
COPY api ./api
RUN pip install . && useradd --create-home --uid 10001 shoptag && mkdir -p /cache /data \
    && chown shoptag /cache /data

USER shoptag
# Model weights (Hugging Face / open_clip cache) and indexes live on volumes.
VOLUME ["/cache", "/data"]
ENTRYPOINT ["shoptag"]
CMD ["demo", "--out", "/data/demo"]
