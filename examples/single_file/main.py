from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI(title="Notes API")


class NoteIn(BaseModel):
    title: str
    body: str = ""


class Note(NoteIn):
    id: int


notes: dict[int, Note] = {}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/notes", status_code=201)
def create_note(payload: NoteIn) -> Note:
    note = Note(id=len(notes) + 1, **payload.model_dump())
    notes[note.id] = note
    return note


@app.get("/notes/{note_id}")
def read_note(note_id: int) -> Note:
    if note_id not in notes:
        raise HTTPException(status_code=404, detail="Note not found")
    return notes[note_id]
