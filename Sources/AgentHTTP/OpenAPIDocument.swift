/// The OpenAPI 3.1 description of agentd's HTTP mapping, served at /openapi.yaml. Tests
/// validate it and walk every operation against a live server (Tests/shell/openapi_check.py).
enum OpenAPIDocument {
    static let yaml = head + "\n" + files

    /// The document down to the agent routes; `files` (OpenAPIDocument+Files.swift) has the rest.
    static let head = #"""
openapi: 3.1.0
info:
  title: agentd
  version: 0.1.0
  description: |
    The agentns namespace over HTTP. Every agent is a directory of files under /agents/{id}/.
    GET reads a file (or lists a directory: trailing slash or Accept: application/json), HEAD
    stats it, PUT replaces, POST appends, sends or calls (the answer is the body), DELETE
    removes, and GET with ?watch=1 streams Server-Sent Events. Errors are JSON
    {"error": {"code", "message", "path"}} with one status per code.
servers:
  - url: http://127.0.0.1:5640
security:
  - bearer: []
components:
  securitySchemes:
    bearer:
      type: http
      scheme: bearer
  parameters:
    id:
      name: id
      in: path
      required: true
      description: Agent id, [a-z0-9][a-z0-9._-]{0,62}
      schema: {type: string, pattern: "^[a-z0-9][a-z0-9._-]{0,62}$"}
    goal:
      name: goal
      in: path
      required: true
      description: Goal file name, <goal-id>.json
      schema: {type: string, pattern: "^[a-z0-9][a-z0-9._-]{0,62}\\.json$"}
    watch:
      name: watch
      in: query
      required: false
      description: 1 to stream Server-Sent Events instead of reading
      schema: {type: string, enum: ["1"]}
    offset:
      name: offset
      in: query
      required: false
      description: |
        Read from this byte (any file). Past the end: an empty body. Negative or not a whole
        number: 400 invalid_input. The response's X-Offset header says where its bytes begin:
        the offset asked for, or on a log whose head was pruned, its oldest retained byte.
      schema: {type: integer, minimum: 0}
    count:
      name: count
      in: query
      required: false
      description: Read at most this many bytes (any file). Negative or not a whole number is 400 invalid_input.
      schema: {type: integer, minimum: 0}
  schemas:
    Error:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [code, message]
          properties:
            code:
              type: string
              enum: [not_found, permission_denied, unauthorized, already_exists, is_directory, not_directory,
                     invalid_path, invalid_input, payload_too_large, budget_exceeded, queue_full, unavailable]
            message: {type: string}
            path: {type: string}
    Status:
      type: object
      required: [id, name, kind, state, tick_count, queue_depth, deadletter_count, created_at]
      properties:
        id: {type: string}
        name: {type: string}
        kind: {type: string}
        state: {type: string, enum: [active, hibernated, paused]}
        tick_count: {type: integer}
        last_tick_at: {type: [string, "null"]}
        last_tick_cause: {type: [string, "null"]}
        queue_depth: {type: integer}
        deadletter_count: {type: integer}
        dropped_count: {type: integer}
        created_at: {type: string}
        budget:
          type: object
          properties:
            limit: {type: integer}
            spent: {type: integer}
            remaining: {type: integer}
    AgentSummary:
      type: object
      required: [id, kind, state, tick_count]
      properties:
        id: {type: string}
        kind: {type: string}
        state: {type: string}
        tick_count: {type: integer}
    Bundle:
      type: object
      description: An agent as data (agentctl export / import); times are milliseconds since the epoch
      required: [format, version, agent, identity]
      properties:
        format: {type: string, const: agentns.bundle}
        version: {type: integer, const: 1}
        exported_at: {type: integer}
        agent:
          type: object
          required: [id, kind, config, lifecycle, created_at, tick_count]
          properties:
            id: {type: string}
            kind: {type: string}
            config: {type: object}
            state: {}
            lifecycle: {type: string, enum: [active, hibernated, paused]}
            created_at: {type: integer}
            tick_count: {type: integer, minimum: 0}
        identity:
          type: object
          required: [pubkey]
          properties:
            pubkey: {type: string}
            secret: {type: string, description: only with private_key=1}
        alarms: {type: array, items: {type: object}}
        goals: {type: array, items: {type: object}}
        inbox: {type: array, items: {type: object}}
        deadletter: {type: array, items: {type: object}}
        logs: {type: object, additionalProperties: {type: array, items: {type: string}}}
    NewAgent:
      type: object
      required: [id, kind]
      properties:
        id: {type: string, pattern: "^[a-z0-9][a-z0-9._-]{0,62}$"}
        kind: {type: string}
        config: {type: object}
    Receipt:
      type: object
      required: [id, status]
      properties:
        id: {type: string}
        status: {type: string, enum: [queued, duplicate, dead_lettered]}
    Entry:
      type: object
      required: [name, type, size]
      properties:
        name: {type: string}
        type: {type: string, enum: [file, dir, stream, call]}
        size: {type: integer}
        mtime: {type: string}
        mode: {type: string}
  responses:
    Error:
      description: A refused request
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Error"}
    Status:
      description: The agent's status (with ?watch=1 or Accept text/event-stream, a stream of its changes)
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Status"}
        text/event-stream:
          schema: {type: string}
    StatusFile:
      description: The agent's status (with ?watch=1 a stream of its changes; with offset or count, those bytes of it)
      content:
        application/json:
          schema: {$ref: "#/components/schemas/Status"}
        text/event-stream:
          schema: {type: string}
        application/octet-stream:
          schema: {type: string}
    Text:
      description: File content
      content:
        text/plain:
          schema: {type: string}
    Stat:
      description: Content-Length, Last-Modified, ETag and X-File-Type (file, dir, stream, call)
    Done:
      description: Done, nothing to say
    Stream:
      description: File content, or with ?watch=1 a text/event-stream of events (id, event, data)
      content:
        text/plain:
          schema: {type: string}
        text/event-stream:
          schema: {type: string}
    Log:
      description: >-
        The log's lines, or with ?watch=1 a text/event-stream of events (id, event, data). A read
        to the end (no count) names its last record in X-Last-Event-ID: a watch with that id as
        Last-Event-ID gets exactly the records after what was read.
      headers:
        X-Last-Event-ID:
          description: Id of the last record in the body (0 for an empty log); absent for a partial read
          schema: {type: string}
      content:
        text/plain:
          schema: {type: string}
        text/event-stream:
          schema: {type: string}
paths:
  /runtime/status:
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: runtimeStatus
      security: []
      responses:
        "200":
          description: Runtime health, counts, version, uptime (with offset or count, those bytes of it)
          content:
            application/json:
              schema: {type: object, required: [version, agents, uptime_s]}
            application/octet-stream:
              schema: {type: string}
        "400": {$ref: "#/components/responses/Error"}
  /openapi.yaml:
    get:
      operationId: openapi
      responses:
        "200":
          description: This document
          content:
            application/yaml:
              schema: {type: object, required: [openapi, paths]}
        "401": {$ref: "#/components/responses/Error"}
  /agents:
    get:
      operationId: listAgents
      responses:
        "200":
          description: Agents the token may see
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/AgentSummary"}}
        "401": {$ref: "#/components/responses/Error"}
    post:
      operationId: createAgent
      description: |
        Creates an agent from {"id", "kind", "config"?}. With ?import=1 the body is instead a bundle
        from GET /agents/{id}?export=1 (operator only): the agent is created as it was exported;
        &id= imports it under another id, &replace=1 overwrites an agent that has the id.
      parameters:
        - {name: import, in: query, required: false, description: "1 to import a bundle", schema: {type: string, enum: ["0", "1"]}}
        - {name: replace, in: query, required: false, description: "with import, 1 to overwrite an existing agent", schema: {type: string, enum: ["0", "1"]}}
        - {name: id, in: query, required: false, description: "with import, the id to import under", schema: {type: string, pattern: "^[a-z0-9][a-z0-9._-]{0,62}$"}}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              oneOf:
                - {$ref: "#/components/schemas/NewAgent"}
                - {$ref: "#/components/schemas/Bundle"}
      responses:
        "201": {$ref: "#/components/responses/Status"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "409": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
  /agents/{id}:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      operationId: agentInfo
      description: |
        The agent's status. With ?export=1 (operator only) the agent as a bundle for POST
        /agents?import=1; &private_key=1 includes its private key.
      parameters:
        - {name: export, in: query, required: false, description: "1 for the agent as a bundle", schema: {type: string, enum: ["0", "1"]}}
        - {name: private_key, in: query, required: false, description: "with export, 1 to include the private key", schema: {type: string, enum: ["0", "1"]}}
      responses:
        "200":
          description: The agent's status, or with ?export=1 its bundle
          content:
            application/json:
              schema:
                oneOf:
                  - {$ref: "#/components/schemas/Status"}
                  - {$ref: "#/components/schemas/Bundle"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
    delete:
      operationId: deleteAgent
      responses:
        "204": {$ref: "#/components/responses/Done"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      operationId: listAgentRoot
      responses:
        "200":
          description: The agent's root directory
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Entry"}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/tokens:
    parameters: [{$ref: "#/components/parameters/id"}]
    post:
      operationId: issueToken
      responses:
        "201":
          description: A token that sees only this agent (shown once)
          content:
            application/json:
              schema: {type: object, required: [token], properties: {token: {type: string}, agent: {type: string}}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/send:
    parameters: [{$ref: "#/components/parameters/id"}]
    post:
      operationId: send
      requestBody:
        required: false
        content:
          text/plain:
            schema: {type: string}
          application/json:
            schema: {type: object}
      responses:
        "202":
          description: Accepted
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Receipt"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
        "429": {$ref: "#/components/responses/Error"}
  /agents/{id}/tick:
    parameters: [{$ref: "#/components/parameters/id"}]
    post:
      operationId: tick
      responses:
        "200": {$ref: "#/components/responses/Status"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/hibernate:
    parameters: [{$ref: "#/components/parameters/id"}]
    post:
      operationId: hibernate
      responses:
        "200": {$ref: "#/components/responses/Status"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/wake:
    parameters: [{$ref: "#/components/parameters/id"}]
    post:
      operationId: wake
      responses:
        "200": {$ref: "#/components/responses/Status"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
"""#
}
