-- POST one new document.
dofile(debug.getinfo(1, "S").source:match("@(.*/)") .. "common.lua")
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"title":"bench insert","status":"Queued","score":42,"tags":["a","b"]}'
