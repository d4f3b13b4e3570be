"""/api/v1 for what the workspace does beyond replies and fields: merge, split and move messages,
internal tasks, logging a phone call. A thin adapter over the same door functions the web views call."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field, StrictBool

from casework.cases import selectors, services
from casework.cases.models import Message, Task
from casework.core.errors import NotFound, ValidationFailed
from casework.people.services import customer_for_caller

from ..schemas import CaseDetailOut, MessageOut
from ..serializers import case_detail_dict, message_dict

router = Router(tags=["cases"])


def _agent(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"No active agent '{username}'", code="agent_not_found")
    return user


def _message(request, reference: str, message_id: int) -> Message:
    case = selectors.case_get(reference, user=request.auth, write=True)
    message = Message.objects.filter(pk=message_id, case=case).first()
    if message is None:
        raise NotFound(f"No message {message_id} on {case.reference}", code="message_not_found")
    return message


# --------------------------------------------------------------------------------------------------
# merge, split, move
# --------------------------------------------------------------------------------------------------


class MergeIn(Schema):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(description="Reference of the case that survives")
    reason: str = Field(default="", max_length=500)


@router.post(
    "/cases/{reference}/merge",
    response=CaseDetailOut,
    summary="Merge this case into another (its messages and tags move; it is closed as merged)",
)
def merge_case(request, reference: str, payload: MergeIn):
    source = selectors.case_get(reference, user=request.auth, write=True)
    target = selectors.case_get(payload.into, user=request.auth, write=True)
    services.case_merge(source=source, target=target, actor=request.auth, reason=payload.reason)
    return case_detail_dict(selectors.case_get(target.reference))


class SplitIn(Schema):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(
        default="", max_length=300, description="Subject of the new case (default: the mail's)"
    )
    reason: str = Field(default="", max_length=500)


@router.post(
    "/cases/{reference}/messages/{int:message_id}/split",
    response={201: CaseDetailOut},
    summary="Split a customer message that threading put on the wrong case into a new case",
)
def split_message(request, reference: str, message_id: int, payload: SplitIn):
    message = _message(request, reference, message_id)
    new_case = services.message_split_to_new_case(
        message=message, actor=request.auth, subject=payload.subject, reason=payload.reason
    )
    return Status(201, case_detail_dict(selectors.case_get(new_case.reference)))


class MoveIn(Schema):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(description="Reference of the case the message belongs on")
    reason: str = Field(default="", max_length=500)


@router.post(
    "/cases/{reference}/messages/{int:message_id}/move",
    response=MessageOut,
    summary="Move a message to another case",
)
def move_message(request, reference: str, message_id: int, payload: MoveIn):
    message = _message(request, reference, message_id)
    target = selectors.case_get(payload.to, user=request.auth, write=True)
    moved = services.message_move(message=message, target=target, actor=request.auth, reason=payload.reason)
    return message_dict(moved)


# --------------------------------------------------------------------------------------------------
# internal tasks
# --------------------------------------------------------------------------------------------------


class TaskOut(Schema):
    id: int
    case: str
    title: str
    owner: str | None
    due_at: datetime | None
    done: bool
    done_at: datetime | None


class TaskIn(Schema):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    owner: str | None = Field(default=None, description="Username of the agent who does it")
    due_at: datetime | None = None


class TaskPatch(Schema):
    model_config = ConfigDict(extra="forbid")
    done: StrictBool


def _task_dict(task: Task, reference: str) -> dict:
    return {
        "id": task.pk,
        "case": reference,
        "title": task.title,
        "owner": task.owner.username if task.owner_id else None,
        "due_at": task.due_at,
        "done": task.done,
        "done_at": task.done_at,
    }


@router.get("/cases/{reference}/tasks", response=list[TaskOut], summary="Internal tasks on a case")
def list_tasks(request, reference: str):
    case = selectors.case_get(reference, user=request.auth)
    return [_task_dict(t, case.reference) for t in case.tasks.select_related("owner")]


@router.post("/cases/{reference}/tasks", response={201: TaskOut}, summary="Add an internal task")
def add_task(request, reference: str, payload: TaskIn):
    case = selectors.case_get(reference, user=request.auth, write=True)
    task = services.case_add_task(
        case=case, title=payload.title, owner=_agent(payload.owner), due_at=payload.due_at, actor=request.auth
    )
    return Status(201, _task_dict(task, case.reference))


@router.patch(
    "/cases/{reference}/tasks/{int:task_id}", response=TaskOut, summary="Mark a task done or not done"
)
def patch_task(request, reference: str, task_id: int, payload: TaskPatch):
    case = selectors.case_get(reference, user=request.auth, write=True)
    task = Task.objects.filter(pk=task_id, case=case).first()
    if task is None:
        raise NotFound(f"No task {task_id} on {case.reference}", code="task_not_found")
    task = services.task_complete(task=task, actor=request.auth, done=payload.done)
    return _task_dict(get_object_or_404(Task.objects.select_related("owner"), pk=task.pk), case.reference)


# --------------------------------------------------------------------------------------------------
# phone calls
# --------------------------------------------------------------------------------------------------


class CallIn(Schema):
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(min_length=1, max_length=20000, description="What was said")
    direction: str = Field(default="inbound", description="inbound | outbound")
    duration_seconds: int = Field(default=0, ge=0, le=86400)
    case: str = Field(default="", description="Log it on this case; empty opens a new case")
    customer_email: str = Field(default="", max_length=254)
    customer_phone: str = Field(default="", max_length=50)
    customer_name: str = Field(default="", max_length=200)
    subject: str = Field(default="", max_length=300, description="Subject of the new case")
    priority: str | None = None


class CallOut(Schema):
    case: str
    message: MessageOut


@router.post(
    "/calls",
    response={201: CallOut},
    summary="Log a phone call: on a case, or as a new case (a caller needs an email or a phone number)",
)
def log_call(request, payload: CallIn):
    case = selectors.case_get(payload.case, user=request.auth, write=True) if payload.case else None
    if case is not None and not (payload.customer_email or payload.customer_phone):
        customer = case.customer
    else:
        if not (payload.customer_email or payload.customer_phone):
            raise ValidationFailed(
                "Give the caller's email address or phone number, or the case it is about",
                code="contact_required",
            )
        customer, _ = customer_for_caller(
            email=payload.customer_email, name=payload.customer_name, phone=payload.customer_phone
        )
    message = services.case_log_call(
        customer=customer,
        case=case,
        summary=payload.summary,
        subject=payload.subject,
        direction=payload.direction,
        duration_seconds=payload.duration_seconds,
        priority=payload.priority,
        actor=request.auth,
    )
    return Status(201, {"case": message.case.reference, "message": message_dict(message)})
