from fastapi import FastAPI

from app.routers import items, users

app = FastAPI()

app.include_router(items.router)
app.include_router(users.router, prefix="/users")


@app.get("/")
def root() -> dict[str, str]:
    return {"message": "Inventory service"}
