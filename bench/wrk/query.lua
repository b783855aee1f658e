-- POST a Convex query (Convex's HTTP API body), to the stub or through the gateway.
dofile(debug.getinfo(1, "S").source:match("@(.*/)") .. "common.lua")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"path":"videos:get","args":{"id":"jd7a2x3q9r5kqv0b8m1n2p3s4t5u6v7w"}}'
