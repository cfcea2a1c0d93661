"""ScimService: the SCIM 2.0 routes of proto/userservice/v1/scim.proto, over the canonical core.

Each call authenticates its own key (so a bad key is answered in the SCIM error shape), reads its
JSON body (``application/scim+json`` or ``application/json``), does its work through ``core.Core``
and answers a ``google.api.HttpBody`` of ``application/scim+json``, with its HTTP status in the
``x-http-status`` initial metadata (Envoy's Lua filter makes it the reply's status) and the user's
version in ``ETag``. Over native gRPC the same HttpBody comes back, with the status in that metadata.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.api import httpbody_pb2
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    InvalidValueException,
    ListResponse,
    NotFoundException,
    ResponseParameters,
    SCIMException,
    SearchRequest,
)
from userservice.v1 import scim_pb2 as pb
from userservice.v1 import scim_pb2_grpc as pb_grpc
from userservice.v1 import user_pb2

from service.auth import Authenticator, Principal
from service.context import call_metadata
from service.errors import ServiceError
from service.scim import discovery, errors, filter, mapping, patch
from service.scim.core import Core
from service.scim.policy import POLICY
from service.users.servicer import UserService

User = user_pb2.User
ServicerContext = grpc.aio.ServicerContext[Any, Any]
CONTENT_TYPE = "application/scim+json"
ACCEPTED_TYPES = ("application/scim+json", "application/json", "")
PREFIX = "/scim/v2"
METHODS = {"patch": "ScimPatchUser", "put": "ScimReplaceUser", "delete": "ScimDeleteUser"}


class Reply:
    """What a call answers: an HTTP status, a JSON body (or none), and headers."""

    def __init__(self, status: int, body: Any = None, *, etag: str = "", location: str = "") -> None:
        self.status, self.body, self.etag, self.location = status, body, etag, location


def _metadata(context: ServicerContext) -> list[tuple[str, Any]]:
    return list(call_metadata(context))


def _header(metadata: list[tuple[str, Any]], name: str) -> str:
    return next((str(v) for k, v in metadata if k == name and isinstance(v, str)), "")


def base_url(metadata: list[tuple[str, Any]]) -> str:
    """The absolute ``/scim/v2`` URL the client used (Host and scheme as Envoy forwards them)."""
    host = _header(metadata, "x-forwarded-host") or _header(metadata, "host")
    scheme = _header(metadata, "x-forwarded-proto") or "http"
    return f"{scheme}://{host}{PREFIX}" if host else PREFIX


def body_json(body: httpbody_pb2.HttpBody) -> Any:
    """The request's JSON; a body of another media type is 415, bad JSON ``invalidSyntax``."""
    media = body.content_type.split(";", 1)[0].strip().lower()
    if media not in ACCEPTED_TYPES:
        raise _Status(Error(status=415, detail=f"send application/scim+json or application/json, not {media}"))
    try:
        return json.loads(body.data or b"null")
    except ValueError as exc:
        raise InvalidSyntaxException(detail=f"the body is not JSON: {exc}") from None


class _Status(Exception):
    """An answer decided before the work (a refused media type)."""

    def __init__(self, error: Error) -> None:
        super().__init__(error.detail)
        self.error = error


def refuse_sorting(sort_by: object, sort_order: object) -> None:
    if sort_by or sort_order:
        raise InvalidValueException(detail="sorting is not supported (ServiceProviderConfig sort.supported is "
                                           "false): results come in creation order")


def response_parameters(attributes: str, excluded: str) -> ResponseParameters[mapping.ScimUser] | None:
    if not attributes and not excluded:
        return None
    if attributes and excluded:
        raise InvalidValueException(detail="attributes and excludedAttributes exclude each other")
    return ResponseParameters[mapping.ScimUser].model_validate(
        {"attributes": attributes or None, "excludedAttributes": excluded or None})


class ScimServicer(pb_grpc.ScimServiceServicer):
    """ScimService over ``Core`` (UserService and the store)."""

    def __init__(self, users: UserService, auth: Authenticator) -> None:
        self.core = Core(users, auth)

    # ---- plumbing ---------------------------------------------------------------------------
    async def _answer(self, context: ServicerContext,
                      work: Callable[[Principal, list[tuple[str, Any]]], Awaitable[Reply]]) -> httpbody_pb2.HttpBody:
        metadata = _metadata(context)
        try:
            with POLICY:
                who = self.core.authenticate(metadata)
                reply = await work(who, metadata)
        except ServiceError as err:
            reply = self._error(errors.from_service(err))
        except SCIMException as exc:
            reply = self._error(errors.from_scim(exc))
        except ValidationError as exc:
            reply = self._error(errors.from_validation(exc))
        except _Status as status:
            reply = self._error(status.error)
        headers: list[tuple[str, str]] = [("x-http-status", str(reply.status))]
        if reply.etag:
            headers.append(("etag", reply.etag))
        if reply.location:
            headers.append(("location", reply.location))
        await context.send_initial_metadata(headers)
        data = b"" if reply.body is None else json.dumps(reply.body, ensure_ascii=False).encode()
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=data)

    @staticmethod
    def _error(error: Error) -> Reply:
        return Reply(int(error.status or 500), error.model_dump())

    def _user_reply(self, user: User, metadata: list[tuple[str, Any]], status: int = 200,
                    params: ResponseParameters[mapping.ScimUser] | None = None) -> Reply:
        location = f"{base_url(metadata)}/Users/{user.id}"
        scim = mapping.to_scim(user, location)
        body = scim.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params)
        return Reply(status, body, etag=user.etag, location=location if status == 201 else "")

    def _list(self, who: Principal, metadata: list[tuple[str, Any]], query: filter.Query,
              params: ResponseParameters[mapping.ScimUser] | None) -> Reply:
        base = base_url(metadata)
        total, found = filter.run(query, lambda after, where: self.core.page(who, after, where),
                                  lambda user: mapping.to_scim(user, f"{base}/Users/{user.id}"))
        listing = ListResponse[mapping.ScimUser](total_results=total, start_index=query.start_index,
                                                 items_per_page=len(found), resources=found)
        return Reply(200, listing.model_dump(scim_ctx=Context.SEARCH_RESPONSE, response_parameters=params))

    # ---- Users ------------------------------------------------------------------------------
    async def ScimListUsers(self, request: pb.ScimListUsersRequest,
                            context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            refuse_sorting(request.sort_by, request.sort_order)
            query = filter.parse(request.filter, request.start_index if request.HasField("start_index") else None,
                                 request.count if request.HasField("count") else None)
            params = response_parameters(request.attributes, request.excluded_attributes)
            return self._list(who, metadata, query, params)
        return await self._answer(context, work)

    async def ScimSearchUsers(self, request: pb.ScimSearchUsersRequest,
                              context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            search = SearchRequest[mapping.ScimUser].model_validate(
                body_json(request.body), scim_ctx=Context.SEARCH_REQUEST, scim_policy=POLICY)
            refuse_sorting(search.sort_by, search.sort_order)
            query = filter.parse(str(search.filter or ""), search.start_index, search.count)
            params = None
            if search.attributes or search.excluded_attributes:
                params = ResponseParameters[mapping.ScimUser](attributes=search.attributes,
                                                              excluded_attributes=search.excluded_attributes)
            return self._list(who, metadata, query, params)
        return await self._answer(context, work)

    async def ScimGetUser(self, request: pb.ScimGetUserRequest, context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            params = response_parameters(request.attributes, request.excluded_attributes)
            user = self.core.read(who, request.id)
            if_none_match = _header(metadata, "if-none-match")
            if if_none_match and self.core.etag_matches(if_none_match, user.etag):
                return Reply(304, etag=user.etag)
            return self._user_reply(user, metadata, params=params)
        return await self._answer(context, work)

    async def ScimCreateUser(self, request: pb.ScimCreateUserRequest,
                             context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            scim = mapping.ScimUser.model_validate(body_json(request.body), scim_ctx=Context.RESOURCE_CREATION_REQUEST,
                                                   scim_policy=POLICY)
            values = mapping.fields(scim)
            paths = [p for p, v in values.items() if v not in (None, [])]
            if scim.password:
                values["password"] = scim.password
                paths.append("password")
            created = await self.core.create(who, mapping.to_user(values, paths), metadata)
            return self._user_reply(created, metadata, 201)
        return await self._answer(context, work)

    async def ScimReplaceUser(self, request: pb.ScimReplaceUserRequest,
                              context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            scim = mapping.ScimUser.model_validate(body_json(request.body),
                                                   scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST, scim_policy=POLICY)
            if scim.id is not None and scim.id != request.id:
                raise InvalidValueException(detail="id is immutable: it must be the id of the path")
            self.core.read(who, request.id)
            values = mapping.fields(scim)
            paths = [p for p in mapping.PUT_PATHS if p != "state" or values["state"] is not None]
            if scim.password:
                values["password"] = scim.password
                paths.append("password")
            user = await self.core.update(who, mapping.to_user(values, paths, request.id), paths,
                                          etag=_header(metadata, "if-match"), method=METHODS["put"])
            return self._user_reply(user, metadata)
        return await self._answer(context, work)

    async def ScimPatchUser(self, request: pb.ScimPatchUserRequest,
                            context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            operations = patch.parse(body_json(request.body))
            current = self.core.read(who, request.id)
            if_match = _header(metadata, "if-match")
            values, paths = patch.apply(operations, mapping.to_scim(current, ""))
            if not paths:
                if if_match and not self.core.etag_matches(if_match, current.etag):
                    return self._error(errors.from_service(self.core.stale()))
                return self._user_reply(current, metadata)
            user = await self.core.update(who, mapping.to_user(values, paths, request.id), paths, etag=if_match,
                                          method=METHODS["patch"])
            return self._user_reply(user, metadata)
        return await self._answer(context, work)

    async def ScimDeleteUser(self, request: pb.ScimDeleteUserRequest,
                             context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            self.core.read(who, request.id)
            await self.core.delete(who, request.id, etag=_header(metadata, "if-match"), method=METHODS["delete"])
            return Reply(204)
        return await self._answer(context, work)

    # ---- discovery and refusals -------------------------------------------------------------
    async def ScimDiscover(self, request: pb.ScimDiscoverRequest, context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            return Reply(200, discovery.document(request.endpoint, request.id, base_url(metadata)))
        return await self._answer(context, work)

    async def ScimRefuse(self, request: pb.ScimRefuseRequest, context: ServicerContext) -> httpbody_pb2.HttpBody:
        async def work(who: Principal, metadata: list[tuple[str, Any]]) -> Reply:
            known = request.endpoint in ("ServiceProviderConfig", "ResourceTypes", "Schemas", "Users")
            if known:
                return self._error(Error(status=405, detail=f"/{request.endpoint} does not take this method"))
            raise NotFoundException(detail=f"no endpoint /scim/v2/{request.endpoint}")
        return await self._answer(context, work)
