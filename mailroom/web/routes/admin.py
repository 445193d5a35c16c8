"""Verwaltung: file plan, users, model versions, thresholds per department."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from classifiers.thresholds import Threshold
from mailroom.core.errors import (
    BadInputError,
    ConfigurationError,
    Conflict,
    MailroomError,
    NotFound,
)
from mailroom.infra.db.models import (
    Case,
    Department,
    Document,
    FilePlanUnit,
    ModelVersion,
    Role,
    User,
)
from mailroom.services import users as user_service
from mailroom.services.fileplan import MAX_FILE_PLAN_BYTES, import_file_plan
from mailroom.services.thresholds import set_admin_threshold
from mailroom.web import models_admin
from mailroom.web.deps import Admin, Csrf, Ctx, DbSession
from mailroom.web.queries import all_departments
from mailroom.web.rendering import flash, render

router = APIRouter(include_in_schema=False, prefix="/verwaltung")


@router.get("", response_class=HTMLResponse)
def overview(request: Request, user: Admin, session: DbSession, ctx: Ctx) -> Response:
    counts = {
        "departments": session.scalar(select(func.count()).select_from(Department)),
        "units": session.scalar(select(func.count()).select_from(FilePlanUnit)),
        "cases": session.scalar(select(func.count()).select_from(Case)),
        "users": session.scalar(select(func.count()).select_from(User)),
        "models": session.scalar(select(func.count()).select_from(ModelVersion)),
        "documents": session.scalar(select(func.count()).select_from(Document)),
    }
    return render(request, "admin/overview.html", user, {"counts": counts, "plan": ctx.fileplan})


# -- file plan (Aktenplan) -----------------------------------------------------------------


@router.get("/aktenplan", response_class=HTMLResponse)
def fileplan_page(request: Request, user: Admin, session: DbSession, ctx: Ctx) -> Response:
    units = session.scalars(select(FilePlanUnit).order_by(FilePlanUnit.code)).all()
    depts = session.scalars(select(Department).order_by(Department.id)).all()
    return render(
        request,
        "admin/fileplan.html",
        user,
        {"units": units, "departments": depts, "plan": ctx.fileplan, "errors": None},
    )


@router.post("/aktenplan", response_class=HTMLResponse, dependencies=[Csrf])
async def fileplan_import(
    request: Request, user: Admin, session: DbSession, ctx: Ctx, file: Annotated[UploadFile, File()]
) -> Response:
    """Import a file plan; validated with the same loader (and errors) as the CLI."""
    data = await file.read(MAX_FILE_PLAN_BYTES + 1)
    try:
        target = ctx.settings.file_plan_target
        plan = import_file_plan(
            session, target, file.filename or "fileplan.yaml", data, user.username
        )
        session.commit()
        ctx.use_file_plan(plan)  # this process at once; the others on their next document
    except (ConfigurationError, BadInputError) as exc:
        session.rollback()
        units = session.scalars(select(FilePlanUnit).order_by(FilePlanUnit.code)).all()
        depts = session.scalars(select(Department).order_by(Department.id)).all()
        return render(
            request,
            "admin/fileplan.html",
            user,
            {"units": units, "departments": depts, "plan": ctx.fileplan, "errors": str(exc)},
            status_code=422,
        )
    flash(
        request,
        f"Aktenplan importiert: {len(plan.departments)} Ämter, {len(plan.units)} Einheiten.",
    )
    return RedirectResponse("/verwaltung/aktenplan", status_code=303)


# -- users ------------------------------------------------------------------------------------


@router.get("/benutzer", response_class=HTMLResponse)
def users_page(request: Request, user: Admin, session: DbSession) -> Response:
    return render(
        request,
        "admin/users.html",
        user,
        {
            "users": user_service.list_users(session),
            "departments": all_departments(session),
            "roles": [r.value for r in Role],
        },
    )


@router.post("/benutzer", dependencies=[Csrf])
def users_add(
    request: Request,
    user: Admin,
    session: DbSession,
    username: Annotated[str, Form(max_length=120)],
    role: Annotated[str, Form(max_length=20)],
    departments: Annotated[list[str] | None, Form()] = None,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    generated = not password
    password = password or user_service.generate_password()
    try:
        user_service.add_user(
            session, username, password, role, departments or [], actor=user.username
        )
    except (BadInputError, Conflict) as exc:
        session.rollback()
        flash(request, str(exc), "error")
        return RedirectResponse("/verwaltung/benutzer", status_code=303)
    message = f"Benutzer {username} angelegt."
    if not generated:
        flash(request, message)
        return RedirectResponse("/verwaltung/benutzer", status_code=303)
    # Shown once in this response only: never put a password into the (readable) cookie.
    session.commit()
    return render(
        request,
        "admin/users.html",
        user,
        {
            "users": user_service.list_users(session),
            "departments": all_departments(session),
            "roles": [r.value for r in Role],
            "flash": {
                "message": f"{message} Erstpasswort (nur jetzt sichtbar): {password}",
                "kind": "ok",
            },
        },
    )


@router.post("/benutzer/{username}", dependencies=[Csrf])
def users_update(
    request: Request,
    username: str,
    user: Admin,
    session: DbSession,
    role: Annotated[str, Form(max_length=20)],
    departments: Annotated[list[str] | None, Form()] = None,
    active: Annotated[str, Form()] = "",
) -> Response:
    try:
        user_service.set_role(session, username, role, departments or [], actor=user.username)
        if username != user.username:  # an admin cannot lock themselves out
            user_service.set_active(session, username, active == "on", actor=user.username)
    except (BadInputError, NotFound) as exc:
        session.rollback()
        flash(request, str(exc), "error")
        return RedirectResponse("/verwaltung/benutzer", status_code=303)
    flash(request, f"Benutzer {username} geändert.")
    return RedirectResponse("/verwaltung/benutzer", status_code=303)


# -- thresholds (Schwellenwerte) --------------------------------------------------------------

#: Where a threshold in force comes from, as the page names it.
SOURCE_LABELS = {
    "admin": "Verwaltung",
    "fileplan": "Aktenplan (YAML)",
    "model": "gemessen (Modell {version})",
    "default": "Standard",
}


def source_label(threshold: Threshold) -> str:
    """The German name of a threshold's source (``classifiers.thresholds``)."""
    return SOURCE_LABELS[threshold.source].format(version=threshold.model_version)


@router.get("/schwellen", response_class=HTMLResponse)
def thresholds_page(request: Request, user: Admin, session: DbSession, ctx: Ctx) -> Response:
    """Per department: the threshold in force, its source, and the administrator's value."""
    in_force = ctx.registry.thresholds_in_force(session)
    rows = [
        {
            "department": dept,
            "threshold": in_force[dept.id],
            "source": source_label(in_force[dept.id]),
            "admin": in_force[dept.id].value if in_force[dept.id].source == "admin" else None,
        }
        for dept in ctx.registry.fileplan.departments
    ]
    return render(
        request,
        "admin/thresholds.html",
        user,
        {
            "rows": rows,
            "default": ctx.settings.default_auto_threshold,
            "target": ctx.settings.target_precision,
        },
    )


@router.post("/schwellen/{department_id}", dependencies=[Csrf])
def thresholds_set(
    request: Request,
    department_id: str,
    user: Admin,
    session: DbSession,
    ctx: Ctx,
    threshold: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Set the administrator's value, or clear it (empty) to fall back to the next source."""
    dept = session.get(Department, department_id)
    if dept is None:
        raise NotFound(f"no department {department_id!r}")
    try:
        value = parse_threshold(threshold)
    except ValueError:
        flash(
            request,
            f"Ungültiger Schwellenwert {threshold!r}: Zahl zwischen 0 und 1 "
            "(oder Prozent) eingeben, leer für den Wert aus Aktenplan oder Modell.",
            "error",
        )
        return RedirectResponse("/verwaltung/schwellen", status_code=303)
    set_admin_threshold(session, dept, value, user.username)
    session.commit()
    ctx.registry.refresh()  # this process routes with the new value at once
    done = "gespeichert" if value is not None else "zurückgesetzt"
    flash(request, f"Schwellenwert für {dept.id} {dept.name} {done}.")
    return RedirectResponse("/verwaltung/schwellen", status_code=303)


def parse_threshold(text: str) -> float | None:
    """``"0,92"``, ``"92 %"`` or ``"0.92"`` -> 0.92; empty -> ``None``; else ValueError."""
    cleaned = text.strip().replace(",", ".").rstrip("%").strip()
    if not cleaned:
        return None
    value = float(cleaned)
    if value > 1:
        value = value / 100  # entered as percent
    if not 0 < value <= 1:
        raise ValueError(text)
    return value


# -- model versions -------------------------------------------------------------------------


@router.get("/modelle", response_class=HTMLResponse)
def models_page(request: Request, user: Admin, session: DbSession) -> Response:
    versions = models_admin.list_versions(session)
    return render(
        request,
        "admin/models.html",
        user,
        {
            "versions": versions,
            "columns": models_admin.metric_columns(versions),
            "jobs": request.app.state.jobs.jobs(),
        },
    )


@router.get("/modelle/{version}/plot.png")
def model_plot(version: str, user: Admin, session: DbSession, ctx: Ctx) -> Response:
    return Response(models_admin.plot_png(session, ctx, version), media_type="image/png")


@router.post("/modelle/{action}", dependencies=[Csrf])
def model_action(
    request: Request,
    action: str,
    user: Admin,
    ctx: Ctx,
    version: Annotated[str, Form(max_length=120)] = "",
    force: Annotated[str, Form()] = "",
) -> Response:
    """train and evaluate run in the background; promote and rollback are quick."""
    try:
        message = models_admin.run_action(
            ctx, request.app.state.jobs, user.username, action, version, force == "on"
        )
        flash(request, message)
    except MailroomError as exc:
        flash(request, str(exc), "error")
    return RedirectResponse("/verwaltung/modelle", status_code=303)
