#!/bin/sh
# echo.sh: the smallest agent. It answers every message with the message's own body and leaves
# the notices of compute/ and containers/ alone. POSIX sh and awk, nothing else.
#
#   agentctl create echo1 --kind exec --program examples/echo.sh
#   agentctl send echo1 hello        # queued m19aa...
#   agentctl cat echo1/outbox        # {"body":"hello","in_reply_to":"m19aa...","type":"reply",...}
#
# Each tick agentd runs the program once in a sandbox: the tick is one JSON object on stdin
# ({"agent","tick","cause","envelopes":[{"id","from","kind","body","sent_at"}...],"state",...}),
# and every line on stdout is one effect, here {"reply":{"to":<envelope id>,"body":<json>}}.
# Exit 0 commits them all with the tick; anything else commits none and the tick is retried.
# Try it by hand: echo '{"envelopes":[{"id":"m1","from":"me","body":"hi"}]}' | sh examples/echo.sh
exec awk '
# The JSON walk: t is a JSON text, i a position in it (awk strings count from 1).
function ws(t, i) { while (i <= length(t) && index(" \t\r\n", substr(t, i, 1))) i++; return i }
# Where the value starting at i ends (the position after it).
function end(t, i,   c, d) {
    c = substr(t, i, 1)
    if (c == "\"") {
        for (i++; i <= length(t) && (c = substr(t, i, 1)) != "\""; i++) if (c == "\\") i++
        return i + 1
    }
    if (c == "{" || c == "[") {
        for (d = 0; i <= length(t); i++) {
            c = substr(t, i, 1)
            if (c == "\"") { i = end(t, i) - 1; continue }
            if (c == "{" || c == "[") d++
            else if ((c == "}" || c == "]") && --d == 0) return i + 1
        }
        return i
    }
    while (i <= length(t) && !index(",}] \t\r\n", substr(t, i, 1))) i++
    return i
}
# The members of an object or the items of an array, as the JSON text of each, in v[1..n]; the
# object keys (with their quotes) in k[1..n].
function items(t, k, v,   i, j, n) {
    n = 0
    for (i = ws(t, 2); i <= length(t) && index("}]", substr(t, i, 1)) == 0; i = ws(t, i + 1)) {
        n++
        if (substr(t, 1, 1) == "{") { j = end(t, i); k[n] = substr(t, i, j - i); i = ws(t, ws(t, j) + 1) }
        j = end(t, i); v[n] = substr(t, i, j - i); i = ws(t, j)
        if (substr(t, i, 1) != ",") break
    }
    return n
}
function member(t, key,   k, v, n, i) {
    n = items(t, k, v)
    for (i = 1; i <= n; i++) if (k[i] == "\"" key "\"") return v[i]
    return ""
}
{ tick = tick $0 "\n" }
END {
    n = items(member(tick, "envelopes"), none, envelopes)
    for (i = 1; i <= n; i++) {
        from = member(envelopes[i], "from")
        if (from == "\"compute\"" || from == "\"containers\"") continue
        body = member(envelopes[i], "body")
        printf "{\"reply\":{\"to\":%s,\"body\":%s}}\n", member(envelopes[i], "id"), body == "" ? "null" : body
    }
}'
