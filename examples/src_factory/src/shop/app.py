from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .api import products

STATIC_DIR = Path(__file__).parent / "static"


def create_app() -> FastAPI:
    application = FastAPI(
        title="Shop",
        version="0.3.0",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
    )

    application.include_router(
        products.router, prefix="/api/products", tags=["products"]
    )

    @application.get("/api/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # Must stay last: the storefront catches every path not matched above.
    application.mount(
        "/", StaticFiles(directory=STATIC_DIR, html=True), name="site"
    )
    return application
