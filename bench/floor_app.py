"""The framework's floor: a FastAPI route that parses the same lead body and returns a constant."""

from __future__ import annotations

from fastapi import FastAPI

from serving.schemas import LeadScoreRequest

app = FastAPI()


@app.post("/score")
async def score(body: LeadScoreRequest) -> dict:
    return {"id": body.id, "probability": 0.5, "score": 50, "grade": "B"}
