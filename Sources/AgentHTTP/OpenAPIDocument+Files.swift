extension OpenAPIDocument {
    /// The agent file routes of the document: every file of an agent's tree.
    static let files = #"""
  /agents/{id}/status:
    parameters: [{$ref: "#/components/parameters/id"}, {$ref: "#/components/parameters/watch"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readStatus
      responses:
        "200": {$ref: "#/components/responses/StatusFile"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
    head:
      operationId: statStatus
      responses:
        "200": {$ref: "#/components/responses/Stat"}
        "400": {description: Bad path}
        "401": {description: No valid token}
        "403": {description: Refused}
        "404": {description: Not found}
  /agents/{id}/ctl:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readCtl
      responses:
        "200": {$ref: "#/components/responses/Text"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
    put:
      operationId: writeCtl
      requestBody:
        required: true
        content:
          text/plain:
            schema: {type: string, enum: [tick, hibernate, wake, pause, resume]}
      responses:
        "204": {$ref: "#/components/responses/Done"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
  /agents/{id}/config:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readConfig
      responses:
        "200":
          description: The config
          content:
            application/json:
              schema: {type: object}
            application/octet-stream:
              schema: {type: string}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
    put:
      operationId: patchConfig
      description: A JSON merge-patch, validated as a whole (operator only)
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
      responses:
        "200":
          description: The new config
          content:
            text/plain:
              schema: {type: string}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
  /agents/{id}/state:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readState
      responses:
        "200":
          description: The agent's state
          content:
            application/json:
              schema: {type: object}
            application/octet-stream:
              schema: {type: string}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/inbox:
    parameters: [{$ref: "#/components/parameters/id"}, {$ref: "#/components/parameters/watch"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readInbox
      responses:
        "200": {$ref: "#/components/responses/Stream"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
    post:
      operationId: writeInbox
      requestBody:
        required: false
        content:
          text/plain:
            schema: {type: string}
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
  /agents/{id}/outbox:
    parameters: [{$ref: "#/components/parameters/id"}, {$ref: "#/components/parameters/watch"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readOutbox
      responses:
        "200": {$ref: "#/components/responses/Log"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/logs/trace:
    parameters: [{$ref: "#/components/parameters/id"}, {$ref: "#/components/parameters/watch"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readTrace
      responses:
        "200": {$ref: "#/components/responses/Log"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/logs/trajectory:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readTrajectory
      responses:
        "200": {$ref: "#/components/responses/Log"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/goals/:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      operationId: listGoals
      responses:
        "200":
          description: Goal files
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Entry"}}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/goals/{goal}:
    parameters: [{$ref: "#/components/parameters/id"}, {$ref: "#/components/parameters/goal"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readGoal
      responses:
        "200":
          description: The goal
          content:
            application/json:
              schema: {type: object}
            application/octet-stream:
              schema: {type: string}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
    put:
      operationId: putGoal
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object}
      responses:
        "204": {$ref: "#/components/responses/Done"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
    delete:
      operationId: deleteGoal
      responses:
        "204": {$ref: "#/components/responses/Done"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/identity/pubkey:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readPubkey
      responses:
        "200": {$ref: "#/components/responses/Text"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/identity/sign:
    parameters: [{$ref: "#/components/parameters/id"}]
    post:
      operationId: sign
      description: BIP-340 signature over SHA-256 of the body, lowercase hex
      requestBody:
        required: false
        content:
          text/plain:
            schema: {type: string}
      responses:
        "200": {$ref: "#/components/responses/Text"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "402": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
  /agents/{id}/identity/verify:
    parameters: [{$ref: "#/components/parameters/id"}]
    post:
      operationId: verify
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [pubkey, data, sig]
              properties:
                pubkey: {type: string}
                data: {type: string}
                sig: {type: string}
      responses:
        "200": {$ref: "#/components/responses/Text"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "402": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
        "413": {$ref: "#/components/responses/Error"}
  /agents/{id}/deadletter/count:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: deadletterCount
      responses:
        "200": {$ref: "#/components/responses/Text"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/deadletter/list:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: deadletterList
      responses:
        "200": {$ref: "#/components/responses/Text"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
  /agents/{id}/mounts:
    parameters: [{$ref: "#/components/parameters/id"}]
    get:
      parameters: [{$ref: "#/components/parameters/offset"}, {$ref: "#/components/parameters/count"}]
      operationId: readMounts
      responses:
        "200": {$ref: "#/components/responses/Text"}
        "400": {$ref: "#/components/responses/Error"}
        "401": {$ref: "#/components/responses/Error"}
        "403": {$ref: "#/components/responses/Error"}
        "404": {$ref: "#/components/responses/Error"}
"""#
}
