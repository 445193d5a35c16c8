"""Test helpers for the web tests: users of every role, logins, tokens, training samples."""

from __future__ import annotations

import hashlib
import re

from fastapi.testclient import TestClient

from mailroom.infra.db.models import TrainingSample
from mailroom.runtime.context import AppContext
from mailroom.services.users import add_user

PASSWORD = "richtig-geheim-123"
USERS = {
    "admin": ("admin", []),
    "leitstand": ("operator", []),
    "clerk402": ("clerk", ["402"]),
    "clerk304": ("clerk", ["304"]),
}


def seed_users(ctx: AppContext) -> None:
    """One user per role (two clerks in different departments), all with :data:`PASSWORD`."""
    with ctx.db.session() as session:
        for name, (role, depts) in USERS.items():
            add_user(session, name, PASSWORD, role, depts, actor="test")


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form like a browser; returns the session's CSRF token."""
    page = client.get("/login")
    token = csrf_in(page.text)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_in(client.get("/login").text)


def token_client(ctx: AppContext, username: str) -> TestClient:
    """An API client with a bearer token for ``username`` (password :data:`PASSWORD`)."""
    from mailroom.web.app import create_app

    client = TestClient(create_app(ctx))
    response = client.post("/api/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = "Bearer " + response.json()["access_token"]
    return client


def csrf_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


#: Units with distinct vocabulary, so a small training set separates them.
LETTERS = {
    "402.12": "Angebot Softwarelizenz Rahmenvertrag Hardware Beschaffung Laptop Server",
    "304.10": "Brandschau Feuerwehr Rauchmelder Brandschutz Fluchtweg Löschwasser",
    "404.10": "Bewerbung Stelle Ausbildung Personal Lebenslauf Zeugnis Einstellung",
}


def seed_training_samples(ctx: AppContext, per_unit: int = 12) -> None:
    with ctx.db.session() as session:
        for unit, words in LETTERS.items():
            vocab = words.split()
            for i in range(per_unit):
                rotated = vocab[i % len(vocab) :] + vocab[: i % len(vocab)]
                text = f"Sehr geehrte Damen und Herren, {' '.join(rotated)} Nr. {i}. Mit Gruß"
                session.add(
                    TrainingSample(
                        source=f"test:{unit}:{i}",
                        sha256=hashlib.sha256(text.encode()).hexdigest(),
                        text=text,
                        unit_code=unit,
                    )
                )
