"""What the OpenAPI document says of each operation: parameters, request bodies and response schemas.

The route table says which operations exist (emulator/web/openapi.py walks it); this table says
what each one takes and answers, keyed by `"METHOD path"` with the path as the route spells it,
convertors dropped (`/{dialect}/api-v2/instances/{id}`). An operation missing here is still
documented, with any JSON as its answer. Schemas are strict where the emulator promises a shape
(the platform's error body, the instance, the Document), so that a fuzzer checking answers against
them checks something.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from emulator.dialects import Dialect

Schema = dict[str, Any]
Spec = dict[str, Any]  # a fragment of an OpenAPI operation: parameters, requestBody, responses

API = "/{dialect}/api-v2"
HUB = API + "/hubs/documents"
CONTROL = "/_emulator"
DROPBOX = CONTROL + "/providers/dropbox"
MAX_WAIT_SECONDS = 120


# -- building blocks --------------------------------------------------------------------------
def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), *, closed: bool = False, **properties: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object"}
# true or false in any case; empty is the default.
FLAG: Schema = {"type": "string", "pattern": "^[ \t]*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])?[ \t]*$"}
TEXT_LIST: Schema = array(STRING)
IGNORED: Schema = {"description": "accepted and ignored (the guide's example sends it)"}
SCALAR: Schema = {"anyOf": [STRING, NUMBER, BOOLEAN]}


def query(name: str, schema: Schema, *, required: bool = False, description: str = "") -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def header(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


def json_body(schema: Schema, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def ok(schema: Schema | None, status: str = "200", media: str = "application/json") -> dict[str, Any]:
    """A success answer; `schema` None: no body."""
    answer: dict[str, Any] = {"description": "success"}
    if schema is not None:
        answer["content"] = {media: {"schema": schema}}
    return {status: answer}


def spec(*parameters: dict[str, Any], body: dict[str, Any] | None = None, **responses: Any) -> Spec:
    """An operation fragment; `responses` maps status (`ok_200`, or via `ok()`) to answers."""
    fragment: Spec = {"parameters": list(parameters), "responses": {}}
    for answer in responses.values():
        fragment["responses"].update(answer)
    if body is not None:
        fragment["requestBody"] = body
    return fragment


# -- shapes -------------------------------------------------------------------------------------
PLATFORM_ERROR = obj(
    ("requestId", "message"), closed=True, requestId=STRING, message=STRING, providerMessage=STRING
)
# Open: a control-plane error may add detail (a scenario's list of problems).
CONTROL_ERROR = obj(("error", "message"), error=STRING, message=STRING)
DROPBOX_OAUTH_ERROR = obj(("error", "error_description"), error=STRING, error_description=STRING)
DOCUMENT = obj(
    ("id", "name", "path", "directory", "size", "createdDate", "modifiedDate", "refId", "parentFolderId"),
    closed=True,
    id=STRING,
    name=STRING,
    path=STRING,
    directory=BOOLEAN,
    size={"type": "integer", "minimum": 0},
    createdDate=nullable(STRING),
    modifiedDate=nullable(STRING),
    tags=TEXT_LIST,
    refId=STRING,
    parentFolderId=nullable(STRING),
    description=STRING,
)
ASYNC_ANSWER = obj(
    ("eventId", "eventStatus"), closed=True, eventId=INTEGER, eventStatus={"enum": ["dispatched"]}
)
USER = obj(("id", "emailAddress"), id=INTEGER, emailAddress=STRING, firstName=STRING, lastName=STRING)
CONNECTOR = obj(("id", "key", "name", "hub"), id=INTEGER, key=STRING, name=STRING, hub=STRING)
LINK = obj(
    ("providerLink", "providerViewLink", "expires", "providerLinkExpires", "raw"),
    closed=True,
    providerLink=STRING,
    providerViewLink=STRING,
    expires=nullable(STRING),
    providerLinkExpires=nullable(STRING),
    raw=ANY_OBJECT,
)
EVENT = obj(
    ("id", "instanceId", "eventType", "eventDate", "status", "providerData", "notifiedData"),
    closed=True,
    id=INTEGER,
    instanceId=INTEGER,
    eventType={"enum": ["webhook", "polling", "async", "trigger"]},
    eventDate=STRING,
    status={"enum": ["NEW", "RECEIVED", "DISPATCHED", "CONSUMED", "NOTIFIED", "FAILED"]},
    providerData=ANY_OBJECT,
    notifiedData=obj(("events", "notificationIds"), events=array(ANY_OBJECT), notificationIds=array(INTEGER)),
)
ATTEMPT = obj(
    ("id", "notificationId", "tryNumber", "url", "startedAt", "outcome"),
    id=INTEGER,
    notificationId=INTEGER,
    tryNumber=INTEGER,
    url=STRING,
    startedAt=NUMBER,
    statusCode=nullable(INTEGER),
    outcome={"enum": ["delivered", "failed", "in_flight", "dropped"]},
)
NOTIFICATION = obj(
    ("notificationId", "eventId", "instanceId", "kind", "url", "status", "headers", "attempts"),
    notificationId=INTEGER,
    eventId=INTEGER,
    instanceId=nullable(INTEGER),
    kind={"enum": ["webhook", "polling", "async", "trigger", "replay"]},
    url=STRING,
    status={"enum": ["pending", "delivered", "queued", "dropped"]},
    headers={"type": "object", "additionalProperties": STRING},
    attempts=array(ref("Attempt")),
    body=ANY_OBJECT,
)
CONFIG_ENTRY = obj(("id", "key", "propertyValue"), closed=True, id=INTEGER, key=STRING, propertyValue=STRING)
DROPBOX_METADATA = obj(
    ("name", "path_lower", "path_display"), name=STRING, path_lower=STRING, path_display=STRING
)
DROPBOX_METADATA["properties"][".tag"] = {"enum": ["file", "folder", "deleted"]}
DROPBOX_METADATA["required"].append(".tag")
CLOCK = obj(
    ("now", "iso", "mode", "scale", "pendingTimers", "nextDue"),
    now=NUMBER,
    iso=STRING,
    mode={"enum": ["manual", "real"]},
    scale=NUMBER,
    pendingTimers=INTEGER,
    nextDue=nullable(NUMBER),
)
CODE = obj(
    ("code", "clientId", "redirectUri", "account", "expiresAt", "used"),
    code=STRING,
    clientId=STRING,
    redirectUri=STRING,
    account=STRING,
    expiresAt=NUMBER,
    used=BOOLEAN,
)
FAULT = obj(
    ("action", "count", "status", "delayMs", "used"),
    url=nullable(STRING),
    action={"enum": ["fail", "refuse", "delay", "drop", "duplicate", "reorder"]},
    count=INTEGER,
    status=INTEGER,
    delayMs=INTEGER,
    used=INTEGER,
)
SUBSCRIPTION = obj(
    ("url", "state", "pending", "queued"),
    url=STRING,
    state={"enum": ["active", "retrying", "deactivated", "queueing"]},
    pending=INTEGER,
    queued=INTEGER,
)
ACCOUNT = obj(
    ("key", "accountId", "email", "displayName", "entries", "cursor"),
    key=STRING,
    accountId=STRING,
    email=STRING,
    displayName=STRING,
    entries=INTEGER,
    cursor=INTEGER,
)


INSTANCE_FIELDS: tuple[str, ...] = ("id", "name", "createdDate", "token", "tags", "provisionInteractions")
INSTANCE_FIELDS += (
    "valid",
    "disabled",
    "maxCacheSize",
    "cacheTimeToLive",
    "configuration",
    "eventsEnabled",
    "user",
)


def instance_schema(dialect: Dialect) -> Schema:
    """The platform's instance object; its connector sits under the dialect's JSON key."""
    key = dialect.singular
    return obj(
        (*INSTANCE_FIELDS, key, f"{key}Id"),
        closed=True,
        id=INTEGER,
        name=STRING,
        createdDate=STRING,
        token=STRING,
        tags=TEXT_LIST,
        provisionInteractions=array(ANY_OBJECT),
        valid=BOOLEAN,
        disabled=BOOLEAN,
        maxCacheSize=INTEGER,
        cacheTimeToLive=INTEGER,
        configuration={"type": "object", "additionalProperties": STRING},
        eventsEnabled=BOOLEAN,
        traceLoggingEnabled=BOOLEAN,
        cachingEnabled=BOOLEAN,
        externalAuthentication=STRING,
        user=ref("User"),
        **{key: ref("Connector"), f"{key}Id": INTEGER},
    )


def components(dialects: dict[str, Dialect]) -> dict[str, Schema]:
    schemas = {
        "PlatformError": PLATFORM_ERROR,
        "ControlError": CONTROL_ERROR,
        "DropboxOAuthError": DROPBOX_OAUTH_ERROR,
        "Document": DOCUMENT,
        "AsyncAnswer": ASYNC_ANSWER,
        "User": USER,
        "Connector": CONNECTOR,
        "Link": LINK,
        "Event": EVENT,
        "Attempt": ATTEMPT,
        "Notification": NOTIFICATION,
        "ConfigEntry": CONFIG_ENTRY,
        "DropboxMetadata": DROPBOX_METADATA,
        "Clock": CLOCK,
        "OAuthCode": CODE,
        "Fault": FAULT,
        "Subscription": SUBSCRIPTION,
        "Account": ACCOUNT,
    }
    for dialect in dialects.values():
        schemas[f"Instance_{dialect.name}"] = instance_schema(dialect)
    return schemas


# Path parameters, by (name, convertor), with a value the default fixture knows (SDK docs, fuzzers).
# Path parameters without a convertor that hold numeric ids: documented as digits, which also keeps
# a fuzzer from reading `/instances/events` (a route of its own) as the instance "events".
NUMERIC_PATH_PARAMETERS = frozenset(
    {("id", ""), ("event_id", ""), ("notification_id", ""), ("instance_id", "")}
)

PATH_EXAMPLES: dict[tuple[str, str], object] = {
    ("id", "document_id"): "%252FDocuments%252Fnotes.txt",
    ("id", "int"): 100,
    ("id", ""): "100",
    ("account", ""): "alice",
    ("tenant", ""): "default",
    ("key", ""): "dropbox",
    ("event_id", ""): "1000",
    ("notification_id", ""): "1000",
    ("instance_id", ""): "100",
}


# -- the platform API ----------------------------------------------------------------------------
# An empty pageSize is the default, as an empty path is no path (`?pageSize=` from an unset variable).
PAGING = (
    query(
        "pageSize",
        {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "maxLength": 0}]},
        description="default 200",
    ),
    query("nextPage", STRING, description="the previous page's Elements-Next-Page-Token"),
)
DROPBOX_PATH: Schema = {"type": "string", "pattern": "^/", "example": "/Documents/notes.txt"}
# Where a path is optional, an empty one is no path (`?path=` from an unset variable).
OPTIONAL_PATH: Schema = {**DROPBOX_PATH, "pattern": "^(/|$)"}
PATH = query("path", OPTIONAL_PATH, description="a Dropbox path such as /Docs/a.txt")
REQUIRED_PATH = query("path", DROPBOX_PATH, required=True, description="a Dropbox path such as /Docs/a.txt")
# A null field of a body is read as an absent one (emulator/domain/platform/hub.py: _text, read_tags).
OPTIONAL_TEXT = nullable(STRING)
OPTIONAL_LIST = nullable(TEXT_LIST)
DESTINATION = obj(("path",), path=DROPBOX_PATH, name=OPTIONAL_TEXT, tags=OPTIONAL_LIST)
# The query's path wins over the body's; an empty body path is no path, as in the query.
FOLDER_BODY = obj(
    path=nullable(OPTIONAL_PATH),
    name=OPTIONAL_TEXT,
    tags=OPTIONAL_LIST,
    directory=IGNORED,
    size=IGNORED,
    createdDate=IGNORED,
)
PATCH_BODY = obj(
    path=nullable(DROPBOX_PATH), name=OPTIONAL_TEXT, tags=OPTIONAL_LIST, description=OPTIONAL_TEXT
)
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": obj(
                ("file",),
                file={"type": "string", "format": "binary"},
                description=STRING,
                overwrite=FLAG,
                size=STRING,
            )
        }
    },
}
PROVISION_BODY = obj(
    element=obj(("key",), key=STRING),
    your_mom=obj(("key",), key=STRING),
    providerData=obj(("code",), code=STRING),
    configuration={"type": "object", "additionalProperties": SCALAR},
    tags=TEXT_LIST,
    name=STRING,
)


def _async_headers(dialect: Dialect) -> tuple[dict[str, Any], ...]:
    return (
        header(dialect.header("Async-Request"), STRING, "True (any case): run as an async job; else not"),
        header(dialect.header("Async-Callback-Url"), STRING, "where the job's completion callback goes"),
    )


def hub_specs(dialect: Dialect) -> dict[str, Spec]:
    """The Documents hub, by `path` and by `{id}` alike: every write may run as an async job."""
    written = {"oneOf": [ref("Document"), ref("AsyncAnswer")]}
    # No body; an async request answers {eventId, eventStatus} (one status, so only words can say it).
    emptied = {"200": {"description": "deleted: no body (an async request answers {eventId, eventStatus})"}}
    asynchronous = _async_headers(dialect)
    download = ok({"type": "string", "format": "binary"}, media="*/*")
    link_query = (
        query("visibility", {"enum": ["PUBLIC", "TEAM_ONLY", "PASSWORD"]}),
        query("password", STRING),
        query("expires", STRING, description="an ISO 8601 date or time"),
    )
    found: dict[str, Spec] = {}
    for by_id in (False, True):
        where = (REQUIRED_PATH,) if not by_id else ()
        files = HUB + ("/files/{id}" if by_id else "/files")
        folders = HUB + ("/folders/{id}" if by_id else "/folders")
        found[f"GET {files}"] = spec(*where, ok=download)
        found[f"DELETE {files}"] = spec(*where, query("emptyTrash", FLAG), *asynchronous, ok=emptied)
        found[f"GET {files}/metadata"] = spec(*where, ok=ok(ref("Document")))
        found[f"PATCH {files}/metadata"] = spec(
            *where, *asynchronous, body=json_body(PATCH_BODY), ok=ok(written)
        )
        found[f"POST {files}/copy"] = spec(*where, *asynchronous, body=json_body(DESTINATION), ok=ok(written))
        found[f"GET {files}/links"] = spec(*where, *link_query, ok=ok(ref("Link")))
        found[f"DELETE {folders}"] = spec(*where, query("emptyTrash", FLAG), *asynchronous, ok=emptied)
        contents = (query("fetchTags", FLAG), *PAGING)
        found[f"GET {folders}/contents"] = spec(*where, *contents, ok=ok(array(ref("Document"))))
        found[f"GET {folders}/metadata"] = spec(*where, ok=ok(ref("Document")))
        found[f"PATCH {folders}/metadata"] = spec(
            *where, *asynchronous, body=json_body(PATCH_BODY), ok=ok(written)
        )
        found[f"POST {folders}/copy"] = spec(
            *where, query("overwrite", FLAG), *asynchronous, body=json_body(DESTINATION), ok=ok(written)
        )
    upload_query = (
        REQUIRED_PATH,
        query("overwrite", FLAG),
        query("size", {"type": "integer", "minimum": 0}),
        query("tags[]", TEXT_LIST),
        query("description", STRING),
    )
    found[f"POST {HUB}/files"] = spec(*upload_query, *asynchronous, body=UPLOAD_BODY, ok=ok(written))
    found[f"POST {HUB}/folders"] = spec(
        PATH, *asynchronous, body=json_body(FOLDER_BODY, required=False), ok=ok(written)
    )
    search = (PATH, query("text", STRING), query("startDate", STRING), query("endDate", STRING))
    found[f"GET {HUB}/search"] = spec(
        *search, query("tags[]", TEXT_LIST), *PAGING, ok=ok(array(ref("Document")))
    )
    storage = obj(("shared", "total", "used"), closed=True, shared=INTEGER, total=INTEGER, used=INTEGER)
    found[f"GET {HUB}/storage"] = spec(ok=ok(storage))
    ping = obj(("status", "instanceId"), closed=True, status=STRING, instanceId=INTEGER)
    found[f"GET {HUB}/ping"] = spec(ok=ok(ping))
    return found


def instance_specs(dialect: Dialect) -> dict[str, Spec]:
    instance = ref(f"Instance_{dialect.name}")
    catalog = API + "/{dialect_again}"
    oauth_url = spec(
        query("apiKey", STRING, required=True),
        query("apiSecret", STRING, required=True),
        query("callbackUrl", STRING, required=True, description="an absolute http(s) URL"),
        query("state", STRING),
        ok=ok(
            obj(("oauthUrl", dialect.singular), closed=True, oauthUrl=STRING, **{dialect.singular: STRING})
        ),
    )
    return {
        f"GET {catalog}/{{key}}/oauth/url": oauth_url,
        f"GET {catalog}/{{key}}/oauth": oauth_url,
        f"GET {catalog}": spec(ok=ok(array(ref("Connector")))),
        f"GET {catalog}/{{key}}": spec(ok=ok(ref("Connector"))),
        f"POST {API}/instances": spec(body=json_body(PROVISION_BODY), ok=ok(instance)),
        f"GET {API}/instances": spec(query("tags[]", TEXT_LIST), ok=ok(array(instance))),
        f"GET {API}/instances/{{id}}": spec(ok=ok(instance)),
        f"PUT {API}/instances/{{id}}": spec(body=json_body(PROVISION_BODY), ok=ok(instance)),
        f"PATCH {API}/instances/{{id}}": spec(body=json_body(PROVISION_BODY), ok=ok(instance)),
        f"DELETE {API}/instances/{{id}}": spec(ok=ok(None)),
        f"GET {API}/instances/{{id}}/configuration": spec(ok=ok(array(ref("ConfigEntry")))),
        f"PATCH {API}/instances/{{id}}/configuration/{{config_id}}": spec(
            body=json_body(obj(("propertyValue",), propertyValue=SCALAR)),
            ok=ok(ref("ConfigEntry")),
        ),
        f"PUT {API}/instances/{{id}}/configuration/{{config_id}}": spec(
            body=json_body(obj(("propertyValue",), propertyValue=SCALAR)),
            ok=ok(ref("ConfigEntry")),
        ),
        f"PUT {API}/instances/{{id}}/enabled": spec(ok=ok(instance)),
        f"POST {API}/instances/{{id}}/enabled": spec(ok=ok(instance)),
        f"DELETE {API}/instances/{{id}}/enabled": spec(ok=ok(instance)),
    }


def event_specs(dialect: Dialect) -> dict[str, Spec]:
    intake = obj(("list_folder",), list_folder=obj(("accounts",), accounts=TEXT_LIST), delta=ANY_OBJECT)
    signature = header("X-Dropbox-Signature", STRING, "hex HMAC-SHA256 of the body by the app secret")
    return {
        f"GET {API}/instances/events": spec(ok=ok(array(ref("Event")))),
        f"GET {API}/instances/events/{{event_id}}": spec(ok=ok(ref("Event"))),
        f"GET {API}/instances/{{id}}/events": spec(ok=ok(array(ref("Event")))),
        f"GET {API}/instances/{{id}}/events/{{event_id}}": spec(ok=ok(ref("Event"))),
        f"GET {API}/notifications/subscriptions/deliveries": spec(ok=ok(array(ref("Notification")))),
        f"PUT {API}/notifications/subscriptions/deliveries": spec(
            ok=ok(obj(("redelivered",), closed=True, redelivered=INTEGER))
        ),
        f"GET {API}/events/{{key}}": spec(
            query("challenge", STRING, required=True), ok=ok(STRING, media="text/plain")
        ),
        f"POST {API}/events/{{key}}": spec(
            signature,
            body=json_body(intake),
            ok=ok(obj(("accounts", "eventsRead"), closed=True, accounts=INTEGER, eventsRead=INTEGER)),
        ),
    }


# -- the control plane ----------------------------------------------------------------------------
# The control plane's filters read an empty value as no filter (`?instanceId=` from an unset variable).
OPTIONAL_INTEGER: Schema = {"anyOf": [INTEGER, {"type": "string", "maxLength": 0}]}
# Empty is the default there too, as for every integer filter (deliveries/wait: count 1, attempts none).
OPTIONAL_POSITIVE: Schema = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "maxLength": 0}]}
OPTIONAL_NON_NEGATIVE: Schema = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "maxLength": 0}]
}
TENANT = query("tenant", STRING, description="a tenant id (default: default)")
STATUS_FILTER = query("status", {"enum": ["pending", "delivered", "queued", "dropped", "any", ""]})
JOURNAL_FILTERS = (
    query("instanceId", OPTIONAL_INTEGER),
    query("url", STRING),
    query("after", OPTIONAL_INTEGER, description="only notifications after this id"),
)
WAIT = query(
    "timeout",
    {"type": "number", "minimum": 0},
    description=f"seconds, default 10; at most {MAX_WAIT_SECONDS} are waited",
)
OPERATION = obj(
    ("op", "path"),
    op={"enum": ["mkdir", "upload", "delete", "move", "copy"]},
    path=DROPBOX_PATH,
    to=DROPBOX_PATH,
    content=STRING,
    base64=STRING,
    size={"type": "integer", "minimum": 0, "maximum": 1024 * 1024},
    mode={"enum": ["add", "overwrite"]},
    autorename=BOOLEAN,
    modified=STRING,
)


def control_specs() -> dict[str, Spec]:
    waited = obj(
        ("reached", "count", "deliveries"),
        reached=BOOLEAN,
        count=INTEGER,
        deliveries=array(ref("Notification")),
    )
    waited_answers = {**ok(waited), **ok(waited, "408")}
    clock_body = obj(seconds=NUMBER, minutes=NUMBER, hours=NUMBER)
    set_clock_body = obj(now={"anyOf": [STRING, NUMBER]}, mode={"enum": ["manual", "real"]}, scale=NUMBER)
    set_clock = spec(body=json_body(set_clock_body), ok=ok(ref("Clock")))
    tenant = obj(
        (
            "id",
            "organizationId",
            "organizationSecret",
            "userSecret",
            "apiKey",
            "apiSecret",
            "user",
            "accounts",
        ),
        id=STRING,
        organizationId=INTEGER,
        organizationSecret=STRING,
        userSecret=STRING,
        apiKey=STRING,
        apiSecret=STRING,
        user=ref("User"),
        accounts=TEXT_LIST,
    )
    code_body = obj(
        ("account", "clientId", "redirectUri"),
        account=STRING,
        clientId=STRING,
        redirectUri=STRING,
        tenant=STRING,
    )
    fault_body = obj(
        ("action",),
        url=nullable(STRING),  # absent or null: every destination
        action={"enum": ["fail", "refuse", "delay", "drop", "duplicate", "reorder"]},
        count={"type": "integer", "minimum": 0},
        status={"type": "integer", "minimum": 100, "maximum": 599},
        delayMs={"type": "integer", "minimum": 0},
    )
    trigger_body = {
        "oneOf": [
            obj(("op",), closed=True, op=OPERATION),
            obj(("events",), closed=True, events=array(obj(("path",), path=STRING, metadata=ANY_OBJECT))),
        ]
    }
    # YAML is JSON's superset: either spelling of the state is the same object.
    either = {"application/json": {"schema": ANY_OBJECT}, "application/yaml": {"schema": ANY_OBJECT}}
    exported = {"200": {"description": "the whole state, as JSON or (format=yaml) YAML", "content": either}}
    state_body = {"required": True, "content": either}
    trigger = obj(("eventIds", "notificationIds"), eventIds=array(INTEGER), notificationIds=array(INTEGER))
    changes = obj(
        ("changes", "cursor", "hasMore"), changes=array(ANY_OBJECT), cursor=INTEGER, hasMore=BOOLEAN
    )
    tree = obj(
        ("account", "cursor", "entries"),
        account=STRING,
        cursor=INTEGER,
        entries=array(ref("DropboxMetadata")),
    )
    token = obj(
        ("access_token", "token_type", "account", "account_id", "tenant"),
        access_token=STRING,
        token_type=STRING,
    )
    return {
        f"GET {CONTROL}/health": spec(ok=ok(obj(("status",), status={"enum": ["ok"]}, clock=ref("Clock")))),
        f"GET {CONTROL}/openapi.json": spec(
            ok=ok(obj(("openapi", "paths"), openapi=STRING, paths=ANY_OBJECT))
        ),
        f"POST {CONTROL}/reset": spec(ok=ok(obj(("status", "serverMs"), status=STRING, serverMs=NUMBER))),
        f"POST {CONTROL}/tenants": spec(ok=ok(tenant, "201")),
        f"POST {CONTROL}/tenants/{{tenant}}/reset": spec(
            ok=ok(obj(("id", "status"), id=STRING, status=STRING))
        ),
        f"DELETE {CONTROL}/tenants/{{tenant}}": spec(
            ok=ok(obj(("id", "status"), id=STRING, status={"enum": ["deleted"]}))
        ),
        f"GET {CONTROL}/clock": spec(ok=ok(ref("Clock"))),
        f"POST {CONTROL}/clock": set_clock,
        f"PUT {CONTROL}/clock": set_clock,
        f"POST {CONTROL}/clock/advance": spec(body=json_body(clock_body), ok=ok(ref("Clock"))),
        f"GET {CONTROL}/oauth/codes": spec(TENANT, ok=ok(array(ref("OAuthCode")))),
        f"POST {CONTROL}/oauth/codes": spec(body=json_body(code_body), ok=ok(ref("OAuthCode"), "201")),
        f"GET {CONTROL}/deliveries": spec(STATUS_FILTER, *JOURNAL_FILTERS, ok=ok(array(ref("Notification")))),
        f"GET {CONTROL}/deliveries/wait": spec(
            query("count", OPTIONAL_POSITIVE),
            query("attempts", OPTIONAL_POSITIVE),
            STATUS_FILTER,
            *JOURNAL_FILTERS,
            WAIT,
            **{"reached": waited_answers},
        ),
        f"POST {CONTROL}/deliveries/redeliver": spec(
            query("url", STRING),
            query("instanceId", OPTIONAL_INTEGER),
            ok=ok(obj(("redelivered",), redelivered=INTEGER)),
        ),
        f"POST {CONTROL}/deliveries/next-retry": spec(
            query("url", STRING),
            query("instanceId", OPTIONAL_INTEGER),
            WAIT,
            ok=ok(obj(("advancedBy", "notification"), advancedBy=NUMBER, notification=ref("Notification"))),
        ),
        f"GET {CONTROL}/subscriptions": spec(ok=ok(array(ref("Subscription")))),
        f"GET {CONTROL}/faults": spec(ok=ok(array(ref("Fault")))),
        f"POST {CONTROL}/faults": spec(body=json_body(fault_body), ok=ok(ref("Fault"), "201")),
        f"DELETE {CONTROL}/faults": spec(query("url", STRING), ok=ok(obj(("removed",), removed=INTEGER))),
        f"GET {CONTROL}/events": spec(query("instanceId", OPTIONAL_INTEGER), ok=ok(array(ref("Event")))),
        f"GET {CONTROL}/state": spec(query("format", {"enum": ["json", "yaml", ""]}), ok=exported),
        f"PUT {CONTROL}/state": spec(
            body=state_body, ok=ok(obj(("status", "instances"), status=STRING, instances=INTEGER))
        ),
        f"POST {CONTROL}/state/save": spec(ok=ok(obj(("status", "path"), status=STRING, path=STRING))),
        f"POST {CONTROL}/notifications/{{notification_id}}/replay": spec(
            ok=ok(obj(("notificationId", "replayOf", "url"), notificationId=INTEGER, replayOf=INTEGER), "201")
        ),
        f"POST {CONTROL}/instances/{{instance_id}}/trigger": spec(
            body=json_body(trigger_body), ok=ok(trigger, "201")
        ),
        f"GET {DROPBOX}/api": spec(ok=ok(obj(("apiHost", "contentHost", "notifyHost", "caFile")))),
        f"POST {DROPBOX}/accounts/{{account}}/tokens": spec(
            TENANT, body=json_body(obj(tenant=nullable(STRING)), required=False), ok=ok(token, "201")
        ),
        f"GET {DROPBOX}/accounts": spec(TENANT, ok=ok(array(ref("Account")))),
        f"GET {DROPBOX}/accounts/{{account}}/tree": spec(TENANT, ok=ok(tree)),
        f"GET {DROPBOX}/accounts/{{account}}/changes": spec(
            TENANT,
            query("cursor", OPTIONAL_NON_NEGATIVE),
            query("limit", OPTIONAL_POSITIVE),
            ok=ok(changes),
        ),
        f"POST {DROPBOX}/accounts/{{account}}/operations": spec(
            TENANT,
            body=json_body(OPERATION),
            ok=ok(obj(("metadata", "cursor"), metadata=ref("DropboxMetadata"), cursor=INTEGER)),
        ),
        **consent_specs(),
    }


def consent_specs() -> dict[str, Spec]:
    """The fake Dropbox's consent step answers as Dropbox does: HTML pages and redirects, not JSON."""
    authorize = (
        query("response_type", {"enum": ["code"]}, required=True),
        query("client_id", STRING, required=True),
        query("redirect_uri", STRING, required=True),
        query("state", STRING),
        query("tenant", STRING),
    )
    page = ok(STRING, media="text/html")
    redirect = {"302": {"description": "back to redirect_uri with code (or error) and state"}}
    refused = {"400": {"description": "Dropbox's error page", "content": {"text/html": {"schema": STRING}}}}
    form = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": obj(("decision",), decision={"enum": ["allow", "deny"]}, account=STRING)
            }
        },
    }
    token_form = obj(
        ("grant_type", "code"),
        grant_type={"enum": ["authorization_code"]},
        code=STRING,
        client_id=STRING,
        client_secret=STRING,
        redirect_uri=STRING,
    )
    token_answer = obj(
        ("access_token", "token_type", "uid", "account_id"), access_token=STRING, token_type=STRING
    )
    token_refused = {
        "400": {
            "description": "Dropbox's OAuth error",
            "content": {"application/json": {"schema": ref("DropboxOAuthError")}},
        }
    }
    token_body = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": token_form}}}
    return {
        "GET /oauth2/authorize": spec(*authorize, ok=page, redirect=redirect, refused=refused),
        "POST /oauth2/authorize": spec(*authorize, body=form, redirect=redirect, refused=refused),
        "POST /oauth2/token": spec(body=token_body, ok=ok(token_answer), refused=token_refused),
    }


SpecSource = Callable[[Dialect], dict[str, Spec]]
PLATFORM_SPECS: tuple[SpecSource, ...] = (hub_specs, instance_specs, event_specs)


@cache
def operation_specs(dialect: Dialect | None) -> dict[str, Spec]:
    """Every operation's fragment: the control plane's, or the platform's in `dialect`'s spelling."""
    if dialect is None:
        return control_specs()
    found: dict[str, Spec] = {}
    for source in PLATFORM_SPECS:
        found.update(source(dialect))
    return found
