"""The baseline: an empty FastAPI POST handler that reads the body, served the same way."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()


@app.post("/webhooks/sendgrid/inbound")
async def empty_handler(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "received"})
